package diskfmt

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
)

// Shared parts of the two VMDK writers (vmdk_sparse.go, vmdk_stream.go):
// the sparse extent header and the embedded text descriptor.

const (
	vmdkGrain        = 64 << 10 // bytes; 128 sectors
	vmdkGrainSectors = vmdkGrain / sectorSize
	vmdkGTEntries    = 512 // grain table entries: 32 MiB per table
	vmdkDescOffset   = 1   // sectors
	vmdkDescSectors  = 20

	vmdkFlagNLTest     = 1 << 0
	vmdkFlagRGD        = 1 << 1
	vmdkFlagCompressed = 1 << 16
	vmdkFlagMarkers    = 1 << 17
	vmdkGDAtEnd        = ^uint64(0)
)

// vmdkHeader is the SparseExtentHeader (little-endian, one sector).
type vmdkHeader struct {
	version, flags      uint32
	capacity            uint64 // sectors
	rgdOffset, gdOffset uint64 // sectors
	overhead            uint64 // sectors before the first grain
	compressAlgorithm   uint16
}

func (h vmdkHeader) bytes() []byte {
	b := make([]byte, sectorSize)
	le := binary.LittleEndian
	copy(b[0:], "KDMV")
	le.PutUint32(b[4:], h.version)
	le.PutUint32(b[8:], h.flags)
	le.PutUint64(b[12:], h.capacity)
	le.PutUint64(b[20:], vmdkGrainSectors)
	le.PutUint64(b[28:], vmdkDescOffset)
	le.PutUint64(b[36:], vmdkDescSectors)
	le.PutUint32(b[44:], vmdkGTEntries)
	le.PutUint64(b[48:], h.rgdOffset)
	le.PutUint64(b[56:], h.gdOffset)
	le.PutUint64(b[64:], h.overhead)
	b[72] = 0 // clean shutdown
	b[73], b[74], b[75], b[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(b[77:], h.compressAlgorithm)
	return b
}

var vmdkAdapters = []string{"ide", "lsilogic", "buslogic", "legacyESX"}

func vmdkAdapter(a string) (string, error) {
	if a == "" {
		return "ide", nil
	}
	for _, v := range vmdkAdapters {
		if a == v {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown VMDK adapter %q: use one of %s", a, strings.Join(vmdkAdapters, ", "))
}

// vmdkDescriptor renders the embedded descriptor, padded to its sectors.
func vmdkDescriptor(cid uint32, createType string, capacity uint64, extent, adapter string) ([]byte, error) {
	heads, secs := uint64(16), uint64(63)
	if adapter != "ide" {
		heads, secs = 255, 63
	}
	cyl := min(capacity/(heads*secs), 16383)
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=%q\n\n", cid, createType)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE %q\n\n", capacity, extent)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n")
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"%d\"\nddb.geometry.sectors = \"%d\"\n", cyl, heads, secs)
	fmt.Fprintf(&b, "ddb.adapterType = %q\nddb.toolsVersion = \"2147483647\"\n", adapter)
	if b.Len() > vmdkDescSectors*sectorSize {
		return nil, fmt.Errorf("VMDK descriptor is %d bytes, more than %d: use a shorter extent name", b.Len(), vmdkDescSectors*sectorSize)
	}
	out := make([]byte, vmdkDescSectors*sectorSize)
	copy(out, b.String())
	return out, nil
}

func vmdkExtentName(r resolved, dstName string) string {
	if r.ExtentName != "" {
		return r.ExtentName
	}
	return filepath.Base(dstName)
}

// vmdkCID is the descriptor's content ID, derived from the content.
func vmdkCID(s *scan) uint32 {
	id := contentID(s.digest, "vmdk-cid")
	return binary.BigEndian.Uint32(id[:4])
}
