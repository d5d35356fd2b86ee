// Package gpttest plants defects in the GPT of a real disk image for
// tests: it rewrites header and entry fields of both copies and then
// recomputes every CRC, so that the one rule a test breaks is the only
// one broken.
package gpttest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// Header field offsets (UEFI 2.10 §5.3.2).
const (
	HeaderSize  = 12
	MyLBA       = 24
	AltLBA      = 32
	FirstUsable = 40
	LastUsable  = 48
	DiskGUID    = 56
	EntriesLBA  = 72
	NumEntries  = 80
	EntrySize   = 84
)

// Entry field offsets (UEFI 2.10 §5.3.3).
const (
	EntryFirstLBA = 32
	EntryLastLBA  = 40
	EntryName     = 56
)

// Copy is one copy of the table as read from the disk: the header sector
// and the entry array, written back where they were found.
type Copy struct {
	Header, Entries     []byte
	headerOff, entryOff int64
}

// Entry returns partition n's entry (1-based), by the header's entry
// size as it was read.
func (c *Copy) Entry(n int) []byte {
	size := int(binary.LittleEndian.Uint32(c.Header[EntrySize:]))
	return c.Entries[(n-1)*size : n*size]
}

// Put32 and Put64 write little-endian fields; Get64 reads one.
func Put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func Put64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func Get64(b []byte, off int) uint64    { return binary.LittleEndian.Uint64(b[off:]) }

// maxArray bounds the entry array Patch reads (the disk is the test's
// own, but keep the helper safe on any table).
const maxArray = 4 << 20

// Patch reads both copies of the table of the disk image at path (512-byte
// sectors), lets fn change them, and writes them back with the entry
// array and header CRCs recomputed from the changed fields. The arrays are
// written back where the unchanged headers placed them.
func Patch(path string, fn func(primary, backup *Copy)) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	read := func(lba int64) (*Copy, error) {
		c := &Copy{Header: make([]byte, 512), headerOff: lba * 512}
		if _, err := f.ReadAt(c.Header, c.headerOff); err != nil {
			return nil, err
		}
		n := uint64(binary.LittleEndian.Uint32(c.Header[NumEntries:])) * uint64(binary.LittleEndian.Uint32(c.Header[EntrySize:]))
		if n > maxArray {
			return nil, fmt.Errorf("entry array of %d bytes", n)
		}
		c.Entries = make([]byte, n)
		c.entryOff = int64(Get64(c.Header, EntriesLBA)) * 512
		if _, err := f.ReadAt(c.Entries, c.entryOff); err != nil {
			return nil, err
		}
		return c, nil
	}
	prim, err := read(1)
	if err != nil {
		return fmt.Errorf("reading primary GPT: %w", err)
	}
	back, err := read(st.Size()/512 - 1)
	if err != nil {
		return fmt.Errorf("reading backup GPT: %w", err)
	}
	fn(prim, back)
	for _, c := range []*Copy{prim, back} {
		if _, err := f.WriteAt(c.Entries, c.entryOff); err != nil {
			return err
		}
		n := uint64(binary.LittleEndian.Uint32(c.Header[NumEntries:])) * uint64(binary.LittleEndian.Uint32(c.Header[EntrySize:]))
		if n <= uint64(len(c.Entries)) {
			Put32(c.Header, 88, crc32.ChecksumIEEE(c.Entries[:n]))
		}
		size := min(max(binary.LittleEndian.Uint32(c.Header[HeaderSize:]), 92), 512)
		Put32(c.Header, 16, 0)
		Put32(c.Header, 16, crc32.ChecksumIEEE(c.Header[:size]))
		if _, err := f.WriteAt(c.Header, c.headerOff); err != nil {
			return err
		}
	}
	return f.Sync()
}

// Overlap makes partition b start at partition a's last LBA in both
// copies: a table every reader must refuse.
func Overlap(path string, a, b int) error {
	return Patch(path, func(p, q *Copy) {
		for _, c := range []*Copy{p, q} {
			Put64(c.Entry(b), EntryFirstLBA, Get64(c.Entry(a), EntryLastLBA))
		}
	})
}
