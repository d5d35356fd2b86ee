package gpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/google/uuid"
)

// header is a decoded GPT header.
type header struct {
	MyLBA, AlternateLBA     uint64
	FirstUsable, LastUsable uint64
	DiskGUID                string
	EntriesLBA              uint64
	NumEntries, EntrySize   uint32
	EntriesCRC              uint32
}

var signature = []byte("EFI PART")

// readHeader reads and validates the header at lba and its entry array.
func readHeader(r io.ReaderAt, lba uint64, sector int64) (*header, []byte, error) {
	b := make([]byte, sector)
	if _, err := r.ReadAt(b, int64(lba)*sector); err != nil {
		return nil, nil, fmt.Errorf("reading GPT header at LBA %d: %w", lba, err)
	}
	if !bytes.Equal(b[:8], signature) {
		return nil, nil, fmt.Errorf("no GPT header signature at LBA %d", lba)
	}
	size := binary.LittleEndian.Uint32(b[12:16])
	if size < 92 || int64(size) > sector {
		return nil, nil, fmt.Errorf("GPT header at LBA %d has invalid size %d", lba, size)
	}
	want := binary.LittleEndian.Uint32(b[16:20])
	h := make([]byte, size)
	copy(h, b[:size])
	binary.LittleEndian.PutUint32(h[16:20], 0)
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, nil, fmt.Errorf("GPT header at LBA %d has bad CRC (stored %08x, computed %08x)", lba, want, got)
	}
	hd := &header{
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
		return nil, nil, fmt.Errorf("GPT header at LBA %d says it is at LBA %d", lba, hd.MyLBA)
	}
	if hd.EntrySize < 128 || hd.NumEntries == 0 || hd.NumEntries > 1024 {
		return nil, nil, fmt.Errorf("GPT header at LBA %d has %d entries of %d bytes", lba, hd.NumEntries, hd.EntrySize)
	}
	entries := make([]byte, int64(hd.NumEntries)*int64(hd.EntrySize))
	if _, err := r.ReadAt(entries, int64(hd.EntriesLBA)*sector); err != nil {
		return nil, nil, fmt.Errorf("reading GPT entries at LBA %d: %w", hd.EntriesLBA, err)
	}
	if got := crc32.ChecksumIEEE(entries); got != hd.EntriesCRC {
		return nil, nil, fmt.Errorf("GPT entries at LBA %d have bad CRC (stored %08x, computed %08x)", hd.EntriesLBA, hd.EntriesCRC, got)
	}
	return hd, entries, nil
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
