package gpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode"
	"unicode/utf16"

	"github.com/google/uuid"
)

// Bounds on the header fields that size what is read. They are checked on
// the raw header bytes before anything is allocated from them, so the
// largest entry array ever read is MaxEntries*MaxEntrySize (4 MiB).
const (
	MinHeaderSize = 92   // bytes of the header the UEFI spec defines
	MinEntrySize  = 128  // bytes of one entry the UEFI spec defines
	MaxEntrySize  = 4096 // larger entries exist on no real disk
	MaxEntries    = 1024 // 8 times what every partitioning tool writes
)

// header is a decoded GPT header.
type header struct {
	Size                    uint32
	MyLBA, AlternateLBA     uint64
	FirstUsable, LastUsable uint64
	DiskGUID                string
	EntriesLBA              uint64
	NumEntries, EntrySize   uint32
	EntriesCRC              uint32
}

var signature = []byte("EFI PART")

// parseHeader decodes the header sector b found at lba and checks what
// does not depend on the disk: signature, header size, CRC, its own LBA,
// and the entry size and count.
func parseHeader(b []byte, lba uint64) (*header, error) {
	if len(b) < MinHeaderSize || !bytes.Equal(b[:8], signature) {
		return nil, fmt.Errorf("no GPT header signature at LBA %d", lba)
	}
	size := binary.LittleEndian.Uint32(b[12:16])
	if size < MinHeaderSize || uint64(size) > uint64(len(b)) {
		return nil, fmt.Errorf("GPT header at LBA %d has invalid size %d (want %d to %d)", lba, size, MinHeaderSize, len(b))
	}
	want := binary.LittleEndian.Uint32(b[16:20])
	h := make([]byte, size)
	copy(h, b[:size])
	binary.LittleEndian.PutUint32(h[16:20], 0)
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, fmt.Errorf("GPT header at LBA %d has bad CRC (stored %08x, computed %08x)", lba, want, got)
	}
	hd := &header{
		Size:         size,
		MyLBA:        binary.LittleEndian.Uint64(b[24:32]),
		AlternateLBA: binary.LittleEndian.Uint64(b[32:40]),
		FirstUsable:  binary.LittleEndian.Uint64(b[40:48]),
		LastUsable:   binary.LittleEndian.Uint64(b[48:56]),
		DiskGUID:     mixedEndianGUID(b[56:72]),
		EntriesLBA:   binary.LittleEndian.Uint64(b[72:80]),
		NumEntries:   binary.LittleEndian.Uint32(b[80:84]),
		EntrySize:    binary.LittleEndian.Uint32(b[84:88]),
		EntriesCRC:   binary.LittleEndian.Uint32(b[88:92]),
	}
	if hd.MyLBA != lba {
		return nil, fmt.Errorf("GPT header at LBA %d says it is at LBA %d", lba, hd.MyLBA)
	}
	if hd.EntrySize < MinEntrySize || hd.EntrySize > MaxEntrySize || hd.EntrySize%MinEntrySize != 0 {
		return nil, fmt.Errorf("GPT header at LBA %d has entries of %d bytes (want a multiple of %d up to %d)",
			lba, hd.EntrySize, MinEntrySize, MaxEntrySize)
	}
	if hd.NumEntries == 0 || hd.NumEntries > MaxEntries {
		return nil, fmt.Errorf("GPT header at LBA %d has %d entries (want 1 to %d)", lba, hd.NumEntries, MaxEntries)
	}
	return hd, nil
}

// entriesSectors is the number of sectors the entry array occupies.
func (h *header) entriesSectors(sector int64) uint64 {
	n := uint64(h.NumEntries) * uint64(h.EntrySize)
	return (n + uint64(sector) - 1) / uint64(sector)
}

// checkGeometry checks the header's LBAs against a disk whose last LBA is
// last: the usable range lies between the two headers, and the entry array
// lies inside the disk, clear of both headers and of the usable range.
func (h *header) checkGeometry(last uint64, sector int64) error {
	if h.FirstUsable > h.LastUsable {
		return fmt.Errorf("GPT first usable LBA %d is after last usable LBA %d", h.FirstUsable, h.LastUsable)
	}
	if h.FirstUsable < 2 {
		return fmt.Errorf("GPT first usable LBA %d overlaps the MBR or primary header", h.FirstUsable)
	}
	if h.LastUsable >= last {
		return fmt.Errorf("GPT last usable LBA %d is outside the disk (backup header at LBA %d)", h.LastUsable, last)
	}
	n := h.entriesSectors(sector)
	if h.EntriesLBA < 2 || h.EntriesLBA >= last || n > last-h.EntriesLBA {
		return fmt.Errorf("GPT entry array at LBA %d (%d sectors) is outside the disk or on a header (last LBA %d)", h.EntriesLBA, n, last)
	}
	end := h.EntriesLBA + n - 1
	if end >= h.FirstUsable && h.EntriesLBA <= h.LastUsable {
		return fmt.Errorf("GPT entry array at LBAs %d-%d overlaps the usable range %d-%d", h.EntriesLBA, end, h.FirstUsable, h.LastUsable)
	}
	return nil
}

// readHeader reads and checks the header at lba, returning it with the
// disk's last LBA checks left to the caller.
func readHeader(r io.ReaderAt, lba uint64, sector int64) (*header, error) {
	b := make([]byte, sector)
	if _, err := r.ReadAt(b, int64(lba)*sector); err != nil {
		return nil, fmt.Errorf("reading GPT header at LBA %d: %w", lba, err)
	}
	return parseHeader(b, lba)
}

// readEntries reads the entry array of a header whose geometry has been
// checked, and verifies its CRC.
func readEntries(r io.ReaderAt, h *header, sector int64) ([]byte, error) {
	entries := make([]byte, int64(h.NumEntries)*int64(h.EntrySize))
	if _, err := r.ReadAt(entries, int64(h.EntriesLBA)*sector); err != nil {
		return nil, fmt.Errorf("reading GPT entries at LBA %d: %w", h.EntriesLBA, err)
	}
	if got := crc32.ChecksumIEEE(entries); got != h.EntriesCRC {
		return nil, fmt.Errorf("GPT entries at LBA %d have bad CRC (stored %08x, computed %08x)", h.EntriesLBA, h.EntriesCRC, got)
	}
	return entries, nil
}

// parseEntries decodes the used entries (type GUID not zero) of an entry
// array and checks each lies inside the usable range, start before end,
// and that no two overlap.
func parseEntries(entries []byte, h *header, sector int64) ([]Partition, error) {
	var parts []Partition
	var zero [16]byte
	for i := 0; (i+1)*int(h.EntrySize) <= len(entries); i++ {
		e := entries[i*int(h.EntrySize) : (i+1)*int(h.EntrySize)]
		if bytes.Equal(e[:16], zero[:]) {
			continue
		}
		p := Partition{
			Number:      i + 1,
			TypeGUID:    mixedEndianGUID(e[0:16]),
			UniqueGUID:  mixedEndianGUID(e[16:32]),
			FirstLBA:    binary.LittleEndian.Uint64(e[32:40]),
			LastLBA:     binary.LittleEndian.Uint64(e[40:48]),
			Attributes:  binary.LittleEndian.Uint64(e[48:56]),
			Label:       entryName(e[56:128]),
			sectorBytes: sector,
		}
		if p.LastLBA < p.FirstLBA {
			return nil, fmt.Errorf("GPT partition %s ends (LBA %d) before it starts (LBA %d)", p.name(), p.LastLBA, p.FirstLBA)
		}
		if p.FirstLBA < h.FirstUsable || p.LastLBA > h.LastUsable {
			return nil, fmt.Errorf("GPT partition %s (LBAs %d-%d) lies outside the usable range %d-%d",
				p.name(), p.FirstLBA, p.LastLBA, h.FirstUsable, h.LastUsable)
		}
		for _, q := range parts {
			if p.FirstLBA <= q.LastLBA && q.FirstLBA <= p.LastLBA {
				return nil, fmt.Errorf("GPT partition %s overlaps partition %s", q.name(), p.name())
			}
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// name is "3 (USR-A)" for messages.
func (p Partition) name() string {
	if p.Label == "" {
		return fmt.Sprint(p.Number)
	}
	for _, r := range p.Label {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) && r != ' ' {
			return fmt.Sprintf("%d (%q)", p.Number, p.Label)
		}
	}
	return fmt.Sprintf("%d (%s)", p.Number, p.Label)
}

// entryName decodes the UTF-16LE name field up to its first NUL.
func entryName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// mixedEndianGUID formats a GUID stored in the EFI mixed-endian layout.
func mixedEndianGUID(b []byte) string {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:16])
	return u.String()
}
