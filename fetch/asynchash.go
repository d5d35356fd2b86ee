package fetch

import (
	"errors"
	"hash"
	"io"
)

// asyncHash reads r and feeds every chunk to h in a second goroutine, so
// that a file is checked against its signature hash and its SHA512 in one
// read at the speed of the slower hash rather than the sum of both.
type asyncHash struct {
	r    io.Reader
	h    hash.Hash
	full chan []byte // chunks read, waiting for h
	free chan []byte // buffers h is done with
	done chan struct{}
	sum  []byte
}

const (
	asyncChunk   = 1 << 20
	asyncBuffers = 4
)

func newAsyncHash(r io.Reader, h hash.Hash) *asyncHash {
	a := &asyncHash{r: r, h: h, full: make(chan []byte, asyncBuffers), free: make(chan []byte, asyncBuffers), done: make(chan struct{})}
	for range asyncBuffers {
		a.free <- make([]byte, asyncChunk)
	}
	go func() {
		defer close(a.done)
		for b := range a.full {
			a.h.Write(b)
			a.free <- b[:cap(b)]
		}
	}()
	return a
}

// WriteTo lets io.Copy hand over whole chunks.
func (a *asyncHash) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		buf := <-a.free
		k, err := io.ReadFull(a.r, buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				a.free <- buf
				return n, werr
			}
			n += int64(k)
			a.full <- buf[:k]
		} else {
			a.free <- buf
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Read serves readers that do not use WriteTo.
func (a *asyncHash) Read(p []byte) (int, error) {
	k, err := a.r.Read(p)
	for off := 0; off < k; {
		buf := <-a.free
		c := copy(buf, p[off:k])
		a.full <- buf[:c]
		off += c
	}
	return k, err
}

// Sum stops the hashing goroutine and returns the hash of what was read.
// It must be called exactly once.
func (a *asyncHash) Sum() []byte {
	close(a.full)
	<-a.done
	return a.h.Sum(nil)
}
