package testimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/sparse"
)

// Bzip2 writes a bzip2 file of the sparse image src to dst in seconds,
// where plain "bzip2 src" would spend minutes compressing gigabytes of
// zeros. It uses bzip2's multi-stream format, which bunzip2, lbzip2 and our
// decoder all read: each 1 MiB-aligned data extent is compressed by the
// bzip2 tool, and each hole is a concatenation of pre-made streams of
// zeros. The decompressed output is byte-identical to src.
func Bzip2(ctx context.Context, src, dst string) error {
	if _, err := child.LookPath("bzip2"); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	const unit = 1 << 20
	zeros := map[int64][]byte{} // size -> bzip2 stream of that many zeros
	for size := int64(unit); size <= 64*unit; size *= 2 {
		z, err := bzip2Bytes(ctx, io.LimitReader(zeroReader{}, size))
		if err != nil {
			return err
		}
		zeros[size] = z
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	exts, err := sparse.DataExtents(in, 0, st.Size())
	if err != nil {
		return err
	}
	pos := int64(0)
	writeZeros := func(n int64) error {
		for size := int64(64 * unit); n > 0; {
			for size > n {
				size /= 2
			}
			if size < unit {
				return fmt.Errorf("hole of %d bytes is not 1 MiB aligned", n)
			}
			if _, err := out.Write(zeros[size]); err != nil {
				return err
			}
			n -= size
		}
		return nil
	}
	for _, e := range exts {
		start := e.Off / unit * unit
		end := (e.End() + unit - 1) / unit * unit
		if end > st.Size() {
			end = st.Size()
		}
		if start < pos {
			start = pos
		}
		if end <= start {
			continue
		}
		if err := writeZeros(start - pos); err != nil {
			return err
		}
		data, err := bzip2Bytes(ctx, io.NewSectionReader(in, start, end-start))
		if err != nil {
			return err
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
		pos = end
	}
	if st.Size()%unit != 0 {
		return fmt.Errorf("image size %d is not a multiple of 1 MiB", st.Size())
	}
	if err := writeZeros(st.Size() - pos); err != nil {
		return err
	}
	return out.Close()
}

func bzip2Bytes(ctx context.Context, r io.Reader) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "bzip2", "-c", "-1")
	cmd.Stdin = r
	var outb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bzip2: %w: %s", err, errb.String())
	}
	return outb.Bytes(), nil
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
