package diskfmt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// Parallels writes a Parallels expandable disk image ("WithouFreSpacExt",
// the .hds data file of a Parallels .hdd bundle; qemu calls the format
// "parallels"): 64-byte header, block allocation table in cluster units,
// then one 1 MiB cluster (zero pages left as holes) for every cluster of
// the disk holding data.
type Parallels struct{}

func (Parallels) Name() string        { return "parallels" }
func (Parallels) Ext() string         { return "hdd" }
func (Parallels) Description() string { return "Parallels expandable disk (1 MiB clusters)" }

func (Parallels) VirtualSize(srcSize int64, o Options) (int64, error) { return plainSize(srcSize, o) }

const (
	prlCluster        = 1 << 20
	prlClusterSectors = prlCluster / sectorSize
	prlHeaderSize     = 64
)

func (Parallels) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	nb := (r.size + prlCluster - 1) / prlCluster
	if nb > 1<<32-1 {
		return fmt.Errorf("virtual size %d is too large for a Parallels image: use a smaller one", r.size)
	}
	dataOff := (prlHeaderSize + 4*nb + prlCluster - 1) / prlCluster * prlCluster
	head := make([]byte, prlHeaderSize+4*nb)

	w := newSeqWriter(dst, dataOff)
	s := &scan{
		src: src, srcSize: r.srcSize, size: prlCluster, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		emit: func(idx int64, data, _ []byte) error {
			le.PutUint32(head[prlHeaderSize+idx*4:], uint32(w.off/prlCluster))
			return w.WriteSparse(data)
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	if err := w.Finish(); err != nil {
		return err
	}

	sectors := uint64(r.size / sectorSize)
	copy(head[0:], "WithouFreSpacExt")
	le.PutUint32(head[16:], 2)  // version
	le.PutUint32(head[20:], 16) // heads
	le.PutUint32(head[24:], uint32(sectors/16/32))
	le.PutUint32(head[28:], prlClusterSectors)
	le.PutUint32(head[32:], uint32(nb))
	le.PutUint64(head[36:], sectors)
	le.PutUint32(head[44:], 0) // in_use: closed
	le.PutUint32(head[48:], uint32(dataOff/sectorSize))
	if _, err := dst.WriteAt(head, 0); err != nil {
		return fmt.Errorf("writing Parallels header of %s: %w", dst.Name(), err)
	}
	return nil
}
