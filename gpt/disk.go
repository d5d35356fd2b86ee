package gpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

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
}

// Read validates the GPT of the disk image f and returns its partitions.
// Nothing is sized from a header field before that field is checked.
// The rules, each refused with a message naming it:
//   - a protective MBR at LBA 0;
//   - both headers (LBA 1 and the last LBA) carry the signature, a header
//     size of 92 bytes up to a sector, a matching CRC and their own LBA;
//     entries of 128 to 4096 bytes (a multiple of 128), 1 to 1024 of them;
//   - the backup header is at the file's last LBA (otherwise the file was
//     truncated or padded);
//   - FirstUsable <= LastUsable, both between the two headers; each entry
//     array inside the disk, clear of the headers and the usable range,
//     with a matching CRC;
//   - every used entry starts at or before its end, inside
//     [FirstUsable, LastUsable], and overlaps no other;
//   - primary and backup agree (disk GUID, usable range, entry geometry,
//     entry bytes) and point at each other.
func Read(f *os.File) (*Disk, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading size of %s: %w", f.Name(), err)
	}
	d, err := readDisk(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	d.Path = f.Name()
	return d, nil
}

// readDisk is Read on any reader of a disk of size bytes.
func readDisk(r io.ReaderAt, size int64) (*Disk, error) {
	const sector = flatcar.SectorSize
	if size < 68*sector {
		return nil, fmt.Errorf("%d bytes is too small for a GPT disk", size)
	}
	mbr := make([]byte, sector)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("reading MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa || mbr[450] != 0xee {
		return nil, errors.New("no protective MBR: not a GPT disk image")
	}
	lastLBA := uint64(size/sector) - 1
	prim, err := readHeader(r, 1, sector)
	if err != nil {
		return nil, fmt.Errorf("primary GPT invalid: %w", err)
	}
	if prim.AlternateLBA != lastLBA {
		if prim.AlternateLBA > lastLBA {
			return nil, fmt.Errorf("truncated: the file has %d bytes but its GPT says the disk has %d; download or copy it again",
				size, (prim.AlternateLBA+1)*sector)
		}
		return nil, fmt.Errorf("backup GPT is at LBA %d, not at the last LBA %d (file size %d)", prim.AlternateLBA, lastLBA, size)
	}
	if err := prim.checkGeometry(lastLBA, sector); err != nil {
		return nil, fmt.Errorf("primary GPT invalid: %w", err)
	}
	back, err := readHeader(r, lastLBA, sector)
	if err != nil {
		return nil, fmt.Errorf("backup GPT invalid: %w", err)
	}
	if err := back.checkGeometry(lastLBA, sector); err != nil {
		return nil, fmt.Errorf("backup GPT invalid: %w", err)
	}
	primEntries, err := readEntries(r, prim, sector)
	if err != nil {
		return nil, fmt.Errorf("primary GPT invalid: %w", err)
	}
	backEntries, err := readEntries(r, back, sector)
	if err != nil {
		return nil, fmt.Errorf("backup GPT invalid: %w", err)
	}
	switch {
	case back.AlternateLBA != 1:
		return nil, fmt.Errorf("primary and backup GPT disagree: the backup names LBA %d as the primary's", back.AlternateLBA)
	case back.DiskGUID != prim.DiskGUID:
		return nil, fmt.Errorf("primary and backup GPT disagree on the disk GUID (%s, %s)", prim.DiskGUID, back.DiskGUID)
	case back.FirstUsable != prim.FirstUsable || back.LastUsable != prim.LastUsable:
		return nil, fmt.Errorf("primary and backup GPT disagree on the usable range (%d-%d, %d-%d)",
			prim.FirstUsable, prim.LastUsable, back.FirstUsable, back.LastUsable)
	case back.NumEntries != prim.NumEntries || back.EntrySize != prim.EntrySize || !bytes.Equal(backEntries, primEntries):
		return nil, errors.New("primary and backup GPT disagree on the partition entries")
	}
	if end := prim.EntriesLBA + prim.entriesSectors(sector) - 1; back.EntriesLBA <= end && prim.EntriesLBA <= back.EntriesLBA+back.entriesSectors(sector)-1 {
		return nil, errors.New("primary and backup GPT entry arrays overlap")
	}
	parts, err := parseEntries(primEntries, prim, sector)
	if err != nil {
		return nil, err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return &Disk{Size: size, GUID: prim.DiskGUID, Partitions: parts}, nil
}

// Validate is Read on the image at path, for checking an output before
// it is renamed into place.
func Validate(path string) error {
	_, err := Open(path)
	return err
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
