package vendors

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bake-os/bake-os/sparse"
)

// sparseReader reads a file (or the range [off, size) of it) front to
// back, returning zeros for holes without reading them from disk (package
// sparse lists the data extents).
type sparseReader struct {
	f    *os.File
	exts []sparse.Extent
	off  int64
	size int64
}

func newSparseReader(f *os.File) (*sparseReader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading size of %s: %w", f.Name(), err)
	}
	exts, err := sparse.DataExtents(f, 0, st.Size())
	if err != nil {
		return nil, err
	}
	return &sparseReader{f: f, exts: exts, size: st.Size()}, nil
}

func (r *sparseReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	for len(r.exts) > 0 && r.exts[0].End() <= r.off {
		r.exts = r.exts[1:]
	}
	if len(r.exts) == 0 || r.off < r.exts[0].Off {
		end := r.size
		if len(r.exts) > 0 {
			end = min(end, r.exts[0].Off)
		}
		n := int(min(int64(len(p)), end-r.off))
		clear(p[:n])
		r.off += int64(n)
		return n, nil
	}
	n := int(min(int64(len(p)), min(r.exts[0].End(), r.size)-r.off))
	n, err := r.f.ReadAt(p[:n], r.off)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}
