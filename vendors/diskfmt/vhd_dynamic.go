package diskfmt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// VHDDynamic writes a dynamic VHD: footer copy, dynamic disk header, block
// allocation table, then one 2 MiB block (sector bitmap + data, its zero
// pages left as holes) for every block of the disk holding data, and the
// footer. The disk size is rounded up to a whole MiB like VHDFixed.
type VHDDynamic struct{}

func (VHDDynamic) Name() string { return "vhd-dynamic" }
func (VHDDynamic) Ext() string  { return "vhd" }
func (VHDDynamic) Description() string {
	return "VHD dynamic (2 MiB blocks, for Hyper-V and CloudStack)"
}

func (VHDDynamic) VirtualSize(srcSize int64, o Options) (int64, error) { return vhdSize(srcSize, o) }

const vhdBlock = 2 << 20

func (VHDDynamic) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	if r.size, err = vhdSize(r.srcSize, o); err != nil {
		return err
	}
	be := binary.BigEndian
	nBlocks := (r.size + vhdBlock - 1) / vhdBlock
	const batOff = 3 * sectorSize
	batBytes := (nBlocks*4 + sectorSize - 1) / sectorSize * sectorSize
	bat := make([]byte, batBytes)
	for i := range bat {
		bat[i] = 0xff // unallocated
	}
	bitmap := make([]byte, sectorSize) // 4096 sectors per block: one sector of bits
	for i := range bitmap {
		bitmap[i] = 0xff
	}

	w := newSeqWriter(dst, batOff+batBytes)
	s := &scan{
		src: src, srcSize: r.srcSize, size: vhdBlock, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		emit: func(idx int64, data, _ []byte) error {
			be.PutUint32(bat[idx*4:], uint32(w.off/sectorSize))
			if _, err := w.Write(bitmap); err != nil {
				return err
			}
			return w.WriteSparse(data)
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	footer := vhdFooter(r.size, vhdTypeDyn, sectorSize, s.digest)
	if _, err := w.Write(footer); err != nil {
		return err
	}
	if err := w.Finish(); err != nil {
		return err
	}

	h := make([]byte, 1024)
	copy(h[0:], "cxsparse")
	be.PutUint64(h[8:], ^uint64(0))
	be.PutUint64(h[16:], batOff)
	be.PutUint32(h[24:], 0x00010000)
	be.PutUint32(h[28:], uint32(nBlocks))
	be.PutUint32(h[32:], vhdBlock)
	be.PutUint32(h[36:], vhdChecksum(h))
	head := append(append(footer[:len(footer):len(footer)], h...), bat...)
	if _, err := dst.WriteAt(head, 0); err != nil {
		return fmt.Errorf("writing VHD header of %s: %w", dst.Name(), err)
	}
	return nil
}
