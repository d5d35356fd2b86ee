package decompress

import (
	"fmt"
	"os"
)

const writeBuf = 1 << 20

// sparseWriter writes decoded blocks at increasing offsets of a file
// that starts empty, seeking over long zero runs so they stay holes.
type sparseWriter struct {
	f        *os.File
	holeSize int64
	off      int64 // output offset of the next byte
	buf      []byte
	bufOff   int64 // output offset of buf[0]
	inHole   bool  // the last thing skipped was a hole
}

func newSparseWriter(f *os.File, holeSize int64) *sparseWriter {
	return &sparseWriter{f: f, holeSize: holeSize, buf: make([]byte, 0, writeBuf)}
}

func (w *sparseWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf, w.bufOff); err != nil {
		return fmt.Errorf("writing %s: %w", w.f.Name(), err)
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *sparseWriter) data(p []byte) error {
	if w.inHole {
		// Zero bytes next to a hole belong to it.
		i := 0
		for i < len(p) && p[i] == 0 {
			i++
		}
		w.off += int64(i)
		p = p[i:]
		if len(p) == 0 {
			return nil
		}
		w.inHole = false
	}
	if len(w.buf) == 0 {
		w.bufOff = w.off
	}
	w.off += int64(len(p))
	if len(p) >= writeBuf/4 {
		if err := w.flush(); err != nil {
			return err
		}
		if _, err := w.f.WriteAt(p, w.off-int64(len(p))); err != nil {
			return fmt.Errorf("writing %s: %w", w.f.Name(), err)
		}
		return nil
	}
	if len(w.buf)+len(p) > cap(w.buf) {
		if err := w.flush(); err != nil {
			return err
		}
		w.bufOff = w.off - int64(len(p))
	}
	w.buf = append(w.buf, p...)
	return nil
}

func (w *sparseWriter) run(b byte, n int64) error {
	if b == 0 && (n >= w.holeSize || w.inHole) {
		// Trailing zeros already buffered join the hole.
		k := len(w.buf)
		for k > 0 && w.buf[k-1] == 0 {
			k--
		}
		w.buf = w.buf[:k]
		if err := w.flush(); err != nil {
			return err
		}
		w.off += n
		w.inHole = true
		return nil
	}
	w.inHole = false
	if len(w.buf) == 0 {
		w.bufOff = w.off
	}
	for n > 0 {
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return err
			}
			w.bufOff = w.off
		}
		k := min(int64(cap(w.buf)-len(w.buf)), n)
		s := w.buf[len(w.buf) : len(w.buf)+int(k)]
		for i := range s {
			s[i] = b
		}
		w.buf = w.buf[:len(w.buf)+int(k)]
		w.off += k
		n -= k
	}
	return nil
}

func (w *sparseWriter) block(o *blockOut) error {
	lit := o.lit
	for _, s := range o.segs {
		if s.lit > 0 {
			if err := w.data(lit[:s.lit]); err != nil {
				return err
			}
			lit = lit[s.lit:]
		}
		if s.run > 0 {
			if err := w.run(s.b, s.run); err != nil {
				return err
			}
		}
	}
	return nil
}

// final is the offset below which the file is written for good: what is
// still buffered, or zeros that may yet join a hole, comes after it.
func (w *sparseWriter) final() int64 {
	if len(w.buf) > 0 {
		return w.bufOff
	}
	return w.off
}

// finish flushes and sets the file length, so trailing holes count.
func (w *sparseWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.f.Truncate(w.off); err != nil {
		return fmt.Errorf("setting length of %s: %w", w.f.Name(), err)
	}
	return nil
}
