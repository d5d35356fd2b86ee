package sparse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/progress"
)

// CopyRange copies length bytes of src at srcOff to dst at dstOff, moving
// only src's data extents. Holes in src become holes in dst only if dst's
// range was a hole before: callers that overwrite existing data punch the
// range first (see Replace).
func CopyRange(ctx context.Context, dst, src *os.File, dstOff, srcOff, length int64, c progress.Counter) error {
	exts, err := DataExtents(src, srcOff, length)
	if err != nil {
		return err
	}
	for _, e := range exts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := copyExtent(dst, src, dstOff+(e.Off-srcOff), e.Off, e.Len, c); err != nil {
			return fmt.Errorf("copying %s to %s: %w", src.Name(), dst.Name(), err)
		}
	}
	return nil
}

// Replace makes dst's range [dstOff, dstOff+length) equal to src's range,
// punching dst first so that src's holes stay holes.
func Replace(ctx context.Context, dst, src *os.File, dstOff, srcOff, length int64, c progress.Counter) error {
	if err := PunchHole(dst, dstOff, length); err != nil {
		return err
	}
	return CopyRange(ctx, dst, src, dstOff, srcOff, length, c)
}

// CopyFile copies src into a new sparse file dst of the same size.
func CopyFile(ctx context.Context, dstPath string, src *os.File, perm os.FileMode, c progress.Counter) (err error) {
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("reading size of %s: %w", src.Name(), err)
	}
	return extract(ctx, dstPath, os.O_TRUNC, perm, src, 0, st.Size(), c)
}

// Extract copies [off, off+length) of src, a disk image say, into dstPath,
// a new file of length bytes (it must not exist) with the holes kept: a
// partition copied out for a tool to work on.
func Extract(ctx context.Context, dstPath string, src *os.File, off, length int64) error {
	return extract(ctx, dstPath, os.O_EXCL, 0o600, src, off, length, nil)
}

func extract(ctx context.Context, dstPath string, flag int, perm os.FileMode, src *os.File, off, length int64, c progress.Counter) (err error) {
	dst, err := os.OpenFile(dstPath, os.O_RDWR|os.O_CREATE|flag, perm)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dstPath, err)
	}
	defer func() {
		if cerr := dst.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing %s: %w", dstPath, cerr)
		}
	}()
	if err := dst.Truncate(length); err != nil {
		return fmt.Errorf("sizing %s: %w", dstPath, err)
	}
	return CopyRange(ctx, dst, src, 0, off, length, c)
}

const chunk = 8 << 20

func copyExtent(dst, src *os.File, dstOff, srcOff, n int64, c progress.Counter) error {
	for n > 0 {
		want := min(n, chunk)
		so, do := srcOff, dstOff
		got, err := unix.CopyFileRange(int(src.Fd()), &so, int(dst.Fd()), &do, int(want), 0)
		if err != nil || got == 0 {
			if err != nil && !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
				return err
			}
			return copyExtentRW(dst, src, dstOff, srcOff, n, c)
		}
		n -= int64(got)
		srcOff += int64(got)
		dstOff += int64(got)
		if c != nil {
			c.Add(int64(got))
		}
	}
	return nil
}

// copyExtentRW is the read/write fallback; it still skips all-zero blocks.
func copyExtentRW(dst, src *os.File, dstOff, srcOff, n int64, c progress.Counter) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		b := buf[:min(n, int64(len(buf)))]
		if _, err := src.ReadAt(b, srcOff); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if !IsZero(b) {
			if _, err := dst.WriteAt(b, dstOff); err != nil {
				return err
			}
		}
		n -= int64(len(b))
		srcOff += int64(len(b))
		dstOff += int64(len(b))
		if c != nil {
			c.Add(int64(len(b)))
		}
	}
	return nil
}

// IsZero reports whether b is all zeros.
func IsZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
