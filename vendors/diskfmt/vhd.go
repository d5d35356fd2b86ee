package diskfmt

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash"
	"os"
)

// VHDFixed writes a fixed VHD: the raw disk (sparse) followed by a 512-byte
// footer. The disk size is rounded up to a whole MiB, as Azure requires, so
// the file is exactly disk size + 512 bytes. The footer's creator
// application is "qem2", one of those for which qemu (like Hyper-V and
// Azure) takes the size from the footer instead of the CHS geometry.
type VHDFixed struct{}

func (VHDFixed) Name() string        { return "vhd" }
func (VHDFixed) Ext() string         { return "vhd" }
func (VHDFixed) Description() string { return "VHD fixed (size a multiple of 1 MiB, for Azure)" }

func (VHDFixed) VirtualSize(srcSize int64, o Options) (int64, error) { return vhdSize(srcSize, o) }

const (
	mib          = 1 << 20
	vhdMaxSize   = 2040 << 30
	vhdTypeFixed = 2
	vhdTypeDyn   = 3
)

// vhdSize is the requested size rounded up to a whole MiB.
func vhdSize(srcSize int64, o Options) (int64, error) {
	s, err := plainSize(srcSize, o)
	if err != nil {
		return 0, err
	}
	s = (s + mib - 1) / mib * mib
	if s > vhdMaxSize {
		return 0, fmt.Errorf("virtual size %d is beyond the VHD limit of 2040 GiB: use vhdx", s)
	}
	return s, nil
}

func (VHDFixed) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	if r.size, err = vhdSize(r.srcSize, o); err != nil {
		return err
	}
	// The digest for the unique ID comes from a scan of the data.
	s := &scan{}
	if err := writeRawDataScan(ctx, r, src, dst, 0, s); err != nil {
		return err
	}
	footer := vhdFooter(r.size, vhdTypeFixed, ^uint64(0), s.digest)
	if _, err := dst.WriteAt(footer, r.size); err != nil {
		return fmt.Errorf("writing VHD footer of %s: %w", dst.Name(), err)
	}
	return nil
}

// vhdFooter renders the 512-byte hard disk footer (big-endian).
func vhdFooter(size int64, diskType uint32, dataOffset uint64, digest hash.Hash) []byte {
	b := make([]byte, sectorSize)
	be := binary.BigEndian
	copy(b[0:], "conectix")
	be.PutUint32(b[8:], 2)           // features: reserved bit always set
	be.PutUint32(b[12:], 0x00010000) // format version 1.0
	be.PutUint64(b[16:], dataOffset)
	be.PutUint32(b[24:], 0) // timestamp: fixed for reproducible output
	copy(b[28:], "qem2")
	be.PutUint32(b[32:], 0x00050003)
	copy(b[36:], "Wi2k")
	be.PutUint64(b[40:], uint64(size))
	be.PutUint64(b[48:], uint64(size))
	cyl, heads, spt := vhdCHS(size)
	be.PutUint16(b[56:], cyl)
	b[58], b[59] = heads, spt
	be.PutUint32(b[60:], diskType)
	id := contentID(digest, fmt.Sprintf("vhd-%d", diskType))
	copy(b[68:], id[:])
	be.PutUint32(b[64:], vhdChecksum(b))
	return b
}

// vhdChecksum is the one's complement of the byte sum (checksum field 0).
func vhdChecksum(b []byte) uint32 {
	var sum uint32
	for _, c := range b {
		sum += uint32(c)
	}
	return ^sum
}

// vhdCHS is the geometry algorithm of the VHD specification.
func vhdCHS(size int64) (uint16, uint8, uint8) {
	total := size / sectorSize
	total = min(total, 65535*16*255)
	var spt, heads, cth int64
	if total >= 65535*16*63 {
		spt, heads = 255, 16
		cth = total / spt
	} else {
		spt = 17
		cth = total / spt
		heads = max((cth+1023)/1024, 4)
		if cth >= heads*1024 || heads > 16 {
			spt, heads = 31, 16
			cth = total / spt
		}
		if cth >= heads*1024 {
			spt, heads = 63, 16
			cth = total / spt
		}
	}
	return uint16(cth / heads), uint8(heads), uint8(spt)
}
