package diskfmt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// VMDKSparse writes a monolithicSparse VMDK (hosted sparse extent with the
// descriptor embedded): uncompressed 64 KiB grains, all-zero grains
// unallocated, a grain directory and grain tables plus their redundant
// copies. Options.Adapter goes into the descriptor.
type VMDKSparse struct{}

func (VMDKSparse) Name() string        { return "vmdk" }
func (VMDKSparse) Ext() string         { return "vmdk" }
func (VMDKSparse) Description() string { return "VMDK monolithicSparse (ide or lsilogic adapter)" }

func (VMDKSparse) VirtualSize(srcSize int64, o Options) (int64, error) {
	return plainSize(srcSize, o)
}

func (VMDKSparse) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	adapter, err := vmdkAdapter(r.Adapter)
	if err != nil {
		return err
	}
	capacity := uint64(r.size / sectorSize)
	nGrains := (r.size + vmdkGrain - 1) / vmdkGrain
	nGTs := (nGrains + vmdkGTEntries - 1) / vmdkGTEntries
	gdSectors := (nGTs*4 + sectorSize - 1) / sectorSize
	gtSectors := int64(vmdkGTEntries * 4 / sectorSize)
	// Layout (sectors): header, descriptor, redundant GD and GTs, GD and
	// GTs, padding to a grain, grains.
	rgd := int64(vmdkDescOffset + vmdkDescSectors)
	rgt := rgd + gdSectors
	gd := rgt + nGTs*gtSectors
	gt := gd + gdSectors
	overhead := (gt + nGTs*gtSectors + vmdkGrainSectors - 1) / vmdkGrainSectors * vmdkGrainSectors

	gtab := make([]uint32, nGTs*vmdkGTEntries)
	w := newSeqWriter(dst, overhead*sectorSize)
	s := &scan{
		src: src, srcSize: r.srcSize, size: vmdkGrain, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		emit: func(idx int64, data, _ []byte) error {
			gtab[idx] = uint32(w.off / sectorSize)
			_, err := w.Write(data)
			return err
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	if w.off/sectorSize > 1<<32-1 {
		return fmt.Errorf("writing %s: VMDK sparse extent would exceed 2 TiB", dst.Name())
	}
	if err := w.Finish(); err != nil {
		return err
	}

	le := binary.LittleEndian
	meta := make([]byte, (gt+nGTs*gtSectors-rgd)*sectorSize)
	put := func(gdAt, gtAt int64) {
		for i := int64(0); i < nGTs; i++ {
			le.PutUint32(meta[(gdAt-rgd)*sectorSize+i*4:], uint32(gtAt+i*gtSectors))
		}
		for i, v := range gtab {
			le.PutUint32(meta[(gtAt-rgd)*sectorSize+int64(i)*4:], v)
		}
	}
	put(rgd, rgt)
	put(gd, gt)
	desc, err := vmdkDescriptor(vmdkCID(s), "monolithicSparse", capacity, vmdkExtentName(r, dst.Name()), adapter)
	if err != nil {
		return err
	}
	h := vmdkHeader{
		version: 1, flags: vmdkFlagNLTest | vmdkFlagRGD, capacity: capacity,
		rgdOffset: uint64(rgd), gdOffset: uint64(gd), overhead: uint64(overhead),
	}
	head := append(h.bytes(), desc...)
	if _, err := dst.WriteAt(append(head, meta...), 0); err != nil {
		return fmt.Errorf("writing VMDK metadata of %s: %w", dst.Name(), err)
	}
	return nil
}
