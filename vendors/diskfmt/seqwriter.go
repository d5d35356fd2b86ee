package diskfmt

import (
	"fmt"
	"os"
)

// seqWriter appends to a file through a buffer and can skip ahead, leaving
// a hole, instead of writing zeros.
type seqWriter struct {
	f   *os.File
	off int64  // logical end: where the next byte goes
	buf []byte // pending bytes, ending at off
}

const seqBufSize = 4 << 20

func newSeqWriter(f *os.File, off int64) *seqWriter {
	return &seqWriter{f: f, off: off, buf: make([]byte, 0, seqBufSize)}
}

func (w *seqWriter) Write(p []byte) (int, error) {
	if len(w.buf)+len(p) > cap(w.buf) {
		if err := w.Flush(); err != nil {
			return 0, err
		}
		if len(p) > cap(w.buf) {
			if _, err := w.f.WriteAt(p, w.off); err != nil {
				return 0, fmt.Errorf("writing %s: %w", w.f.Name(), err)
			}
			w.off += int64(len(p))
			return len(p), nil
		}
	}
	w.buf = append(w.buf, p...)
	w.off += int64(len(p))
	return len(p), nil
}

// Pad writes n zero bytes (for small alignment padding inside metadata).
func (w *seqWriter) Pad(n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Skip leaves a hole of n bytes.
func (w *seqWriter) Skip(n int64) error {
	if err := w.Flush(); err != nil {
		return err
	}
	w.off += n
	return nil
}

// Align skips to the next multiple of a.
func (w *seqWriter) Align(a int64) error {
	if r := w.off % a; r != 0 {
		return w.Skip(a - r)
	}
	return nil
}

// WriteSparse writes p, leaving holes for its all-zero 4 KiB blocks.
func (w *seqWriter) WriteSparse(p []byte) error {
	const blk = 4096
	for len(p) > 0 {
		n := min(len(p), blk)
		if isZero(p[:n]) {
			if err := w.Skip(int64(n)); err != nil {
				return err
			}
		} else if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Flush writes the pending bytes.
func (w *seqWriter) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf, w.off-int64(len(w.buf))); err != nil {
		return fmt.Errorf("writing %s: %w", w.f.Name(), err)
	}
	w.buf = w.buf[:0]
	return nil
}

// Finish flushes and sets the file size to the logical end, so a trailing
// hole still counts.
func (w *seqWriter) Finish() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.f.Truncate(w.off); err != nil {
		return fmt.Errorf("setting size of %s: %w", w.f.Name(), err)
	}
	return nil
}
