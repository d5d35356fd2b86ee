package diskfmt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// VMDKStream writes a streamOptimized VMDK, as AWS and VMware OVA imports
// want: header (grain directory "at end"), descriptor, then every non-zero
// 64 KiB grain zlib-compressed behind a grain marker, every grain table
// behind a GT marker after its grains, the grain directory behind a
// GD marker, a footer (the header with the real GD offset) and the
// end-of-stream marker. Options.Adapter goes into the descriptor.
type VMDKStream struct{}

func (VMDKStream) Name() string { return "vmdk-stream" }
func (VMDKStream) Ext() string  { return "vmdk" }
func (VMDKStream) Description() string {
	return "VMDK streamOptimized (compressed grains, for AWS and OVA)"
}

func (VMDKStream) VirtualSize(srcSize int64, o Options) (int64, error) {
	return plainSize(srcSize, o)
}

const (
	vmdkMarkerEOS    = 0
	vmdkMarkerGT     = 1
	vmdkMarkerGD     = 2
	vmdkMarkerFooter = 3
)

func (VMDKStream) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	adapter, err := vmdkAdapter(r.Adapter)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	capacity := uint64(r.size / sectorSize)
	nGrains := (r.size + vmdkGrain - 1) / vmdkGrain
	nGTs := (nGrains + vmdkGTEntries - 1) / vmdkGTEntries
	gd := make([]uint32, nGTs)
	overhead := int64(vmdkGrainSectors) // header + descriptor, padded to a grain

	w := newSeqWriter(dst, overhead*sectorSize)
	pad := func() error {
		if rem := w.off % sectorSize; rem != 0 {
			return w.Pad(sectorSize - rem)
		}
		return nil
	}
	meta := func(val uint64, typ uint32, body []byte) error {
		m := make([]byte, sectorSize)
		le.PutUint64(m[0:], val)
		le.PutUint32(m[12:], typ)
		if _, err := w.Write(m); err != nil {
			return err
		}
		_, err := w.Write(body)
		return err
	}
	// Every grain table is written, empty ones too (readers differ in
	// how they treat a zero directory entry), each after its grains.
	// gt holds the entries of table nextGT.
	nextGT := int64(0)
	gt := make([]byte, vmdkGTEntries*4)
	advance := func(upto int64) error {
		for ; nextGT < upto; nextGT++ {
			gd[nextGT] = uint32((w.off + sectorSize) / sectorSize)
			if err := meta(uint64(len(gt)/sectorSize), vmdkMarkerGT, gt); err != nil {
				return err
			}
			clear(gt)
		}
		return nil
	}
	s := &scan{
		src: src, srcSize: r.srcSize, size: vmdkGrain, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		newT: zlibber(r.Level),
		emit: func(idx int64, _, out []byte) error {
			if err := advance(idx / vmdkGTEntries); err != nil {
				return err
			}
			le.PutUint32(gt[(idx%vmdkGTEntries)*4:], uint32(w.off/sectorSize))
			var m [12]byte
			le.PutUint64(m[0:], uint64(idx*vmdkGrainSectors))
			le.PutUint32(m[8:], uint32(len(out)))
			if _, err := w.Write(m[:]); err != nil {
				return err
			}
			if _, err := w.Write(out); err != nil {
				return err
			}
			return pad()
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	if err := advance(nGTs); err != nil {
		return err
	}
	gdBytes := make([]byte, (nGTs*4+sectorSize-1)/sectorSize*sectorSize)
	for i, v := range gd {
		le.PutUint32(gdBytes[i*4:], v)
	}
	gdOff := uint64(w.off/sectorSize + 1)
	if err := meta(uint64(len(gdBytes)/sectorSize), vmdkMarkerGD, gdBytes); err != nil {
		return err
	}
	if w.off/sectorSize > 1<<32-1 {
		return fmt.Errorf("writing %s: streamOptimized VMDK would exceed 2 TiB", dst.Name())
	}
	h := vmdkHeader{
		version: 3, flags: vmdkFlagNLTest | vmdkFlagCompressed | vmdkFlagMarkers,
		capacity: capacity, gdOffset: vmdkGDAtEnd, overhead: uint64(overhead), compressAlgorithm: 1,
	}
	footer := h
	footer.gdOffset = gdOff
	if err := meta(1, vmdkMarkerFooter, footer.bytes()); err != nil {
		return err
	}
	if err := meta(0, vmdkMarkerEOS, nil); err != nil {
		return err
	}
	if err := w.Finish(); err != nil {
		return err
	}
	desc, err := vmdkDescriptor(vmdkCID(s), "streamOptimized", capacity, vmdkExtentName(r, dst.Name()), adapter)
	if err != nil {
		return err
	}
	if _, err := dst.WriteAt(append(h.bytes(), desc...), 0); err != nil {
		return fmt.Errorf("writing VMDK header of %s: %w", dst.Name(), err)
	}
	return nil
}
