package gpt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	dgpt "github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bake-os/bake-os/flatcar"
)

// ErrNoSuchPartition is returned by Partition lookups that find nothing.
var ErrNoSuchPartition = errors.New("no such partition")

// Partition is one GPT entry.
type Partition struct {
	Number      int    // 1-based entry index
	Label       string // GPT name
	TypeGUID    string // lower case
	UniqueGUID  string // lower case
	FirstLBA    uint64
	LastLBA     uint64 // inclusive
	Attributes  uint64
	sectorBytes int64
}

// Offset is the partition's first byte in the disk image.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * p.sectorBytes }

// Size is the partition's length in bytes.
func (p Partition) Size() int64 { return int64(p.LastLBA-p.FirstLBA+1) * p.sectorBytes }

// Sectors is the partition's length in sectors.
func (p Partition) Sectors() uint64 { return p.LastLBA - p.FirstLBA + 1 }

// TypeName names the partition type as Flatcar does.
func (p Partition) TypeName() string { return TypeName(p.TypeGUID) }

// TypeName maps a type GUID to a human name.
func TypeName(guid string) string {
	switch strings.ToLower(guid) {
	case flatcar.TypeEFISystem:
		return "EFI system"
	case flatcar.TypeBIOSBoot:
		return "BIOS boot"
	case flatcar.TypeFlatcarUSR:
		return "flatcar-usr"
	case flatcar.TypeLinuxData:
		return "Linux data"
	case flatcar.TypeFlatcarReserve:
		return "flatcar-reserved"
	case flatcar.TypeFlatcarResize:
		return "flatcar-resize"
	}
	return "unknown"
}

// Disk is a validated GPT disk image.
type Disk struct {
	Path       string
	Size       int64 // file size in bytes
	GUID       string
	Partitions []Partition // sorted by number
	table      *dgpt.Table
	primary    *header
}

// Read validates the GPT of the disk image f: the protective MBR, the
// primary header and entries, the backup header at the last LBA and its
// entries, both CRCs, and that both copies agree. A truncated image (backup
// header beyond the end of the file, or not at its end) is refused.
func Read(f *os.File) (*Disk, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading size of %s: %w", f.Name(), err)
	}
	const sector = flatcar.SectorSize
	size := st.Size()
	if size < 68*sector {
		return nil, fmt.Errorf("%s is %d bytes: too small for a GPT disk", f.Name(), size)
	}
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("reading MBR of %s: %w", f.Name(), err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa || mbr[450] != 0xee {
		return nil, fmt.Errorf("%s has no protective MBR: not a GPT disk image", f.Name())
	}
	prim, primEntries, err := readHeader(f, 1, sector)
	if err != nil {
		return nil, fmt.Errorf("%s: primary GPT invalid: %w", f.Name(), err)
	}
	lastLBA := uint64(size/sector) - 1
	if prim.AlternateLBA != lastLBA {
		if prim.AlternateLBA > lastLBA {
			return nil, fmt.Errorf("%s is truncated: it has %d bytes but its GPT says the disk has %d; download or copy it again",
				f.Name(), size, int64(prim.AlternateLBA+1)*sector)
		}
		return nil, fmt.Errorf("%s: backup GPT is at LBA %d, not at the last LBA %d (file size %d)", f.Name(), prim.AlternateLBA, lastLBA, size)
	}
	back, backEntries, err := readHeader(f, prim.AlternateLBA, sector)
	if err != nil {
		return nil, fmt.Errorf("%s: backup GPT invalid: %w", f.Name(), err)
	}
	if back.AlternateLBA != 1 || back.DiskGUID != prim.DiskGUID || !bytes.Equal(backEntries, primEntries) ||
		back.FirstUsable != prim.FirstUsable || back.LastUsable != prim.LastUsable {
		return nil, fmt.Errorf("%s: primary and backup GPT disagree", f.Name())
	}
	t, err := dgpt.Read(f, sector, sector)
	if err != nil {
		return nil, fmt.Errorf("reading GPT of %s: %w", f.Name(), err)
	}
	d := &Disk{Path: f.Name(), Size: size, GUID: strings.ToLower(t.GUID), table: t, primary: prim}
	for _, p := range t.Partitions {
		d.Partitions = append(d.Partitions, Partition{
			Number: p.Index, Label: p.Name, TypeGUID: strings.ToLower(string(p.Type)),
			UniqueGUID: strings.ToLower(p.GUID), FirstLBA: p.Start, LastLBA: p.End,
			Attributes: p.Attributes, sectorBytes: sector,
		})
		if p.End < p.Start || p.End > prim.LastUsable || p.Start < prim.FirstUsable {
			return nil, fmt.Errorf("%s: partition %d (%s) lies outside the usable area", f.Name(), p.Index, p.Name)
		}
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Number < d.Partitions[j].Number })
	return d, nil
}

// Open opens path read-only and reads its GPT.
func Open(path string) (*Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening disk image: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// ByLabel returns the partition with the GPT name label.
func (d *Disk) ByLabel(label string) (Partition, error) {
	for _, p := range d.Partitions {
		if p.Label == label {
			return p, nil
		}
	}
	return Partition{}, fmt.Errorf("%s: partition %q: %w", d.Path, label, ErrNoSuchPartition)
}

// ByNumber returns entry n.
func (d *Disk) ByNumber(n int) (Partition, error) {
	for _, p := range d.Partitions {
		if p.Number == n {
			return p, nil
		}
	}
	return Partition{}, fmt.Errorf("%s: partition %d: %w", d.Path, n, ErrNoSuchPartition)
}
