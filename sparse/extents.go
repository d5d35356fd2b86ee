package sparse

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Extent is a range of a file that holds data (it may still contain zeros).
type Extent struct {
	Off, Len int64
}

// End is the offset just past the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

// DataExtents lists the data extents of f within [off, off+length) using
// SEEK_DATA/SEEK_HOLE. On filesystems without hole reporting the whole range
// is one extent, which is still correct.
func DataExtents(f *os.File, off, length int64) ([]Extent, error) {
	var out []Extent
	end := off + length
	fd := int(f.Fd())
	pos := off
	for pos < end {
		data, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				break // no more data
			}
			return nil, fmt.Errorf("seeking data in %s at %d: %w", f.Name(), pos, err)
		}
		if data >= end {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seeking hole in %s at %d: %w", f.Name(), data, err)
		}
		if hole > end {
			hole = end
		}
		out = append(out, Extent{data, hole - data})
		pos = hole
	}
	return out, nil
}

// DataBytes is the sum of the data extents of f in [off, off+length).
func DataBytes(f *os.File, off, length int64) (int64, error) {
	ext, err := DataExtents(f, off, length)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ext {
		n += e.Len
	}
	return n, nil
}

// PunchHole deallocates [off, off+length) of f so that it reads as zeros
// without writing any.
func PunchHole(f *os.File, off, length int64) error {
	if length <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length)
	if err != nil {
		return fmt.Errorf("punching hole in %s at %d+%d: %w", f.Name(), off, length, err)
	}
	return nil
}

// ReaderAt returns a reader of f's range that seeks over nothing: it is a
// plain io.SectionReader (holes read as zeros). Use DataExtents to skip
// holes.
func ReaderAt(f *os.File, off, length int64) *io.SectionReader {
	return io.NewSectionReader(f, off, length)
}
