package diskfmt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"sync"

	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
)

// chunk is one cluster of the source handed from the reader to a worker and
// then, in order, to the format's emit function.
type chunk struct {
	idx  int64  // cluster index: virtual offset idx*size
	n    int64  // bytes read from src's data extents
	data []byte // cluster contents (zero-padded past the end of src)
	out  []byte // worker result (compressed form), nil if none
	zero bool   // data is all zeros: emit is not called
	crc  uint32
	err  error
	done chan struct{}
}

// transformer turns one non-zero cluster into its stored form, appending to
// dst. Each worker owns one transformer (and its compressor state).
type transformer func(dst, data []byte) ([]byte, error)

// scan describes one pass over the source in clusters of size bytes.
type scan struct {
	src     *os.File
	srcSize int64
	size    int                // cluster size
	workers int                // transforming goroutines
	newT    func() transformer // nil: no transform
	// emit is called in increasing idx order for every cluster that is not
	// all zeros. data and out are only valid during the call.
	emit func(idx int64, data, out []byte) error
	// reporter gets a counter named desc over the source's data bytes.
	reporter progress.Reporter
	desc     string
	digest   hash.Hash // content digest of (idx, crc) pairs, for identifiers
	// extents, when set, yields the extents of src to read, in increasing
	// order (nil: every data extent of src); total is then their length
	// for progress, or -1 if unknown.
	extents func(ctx context.Context, yield func(sparse.Extent) error) error
	total   int64
}

// allExtents yields exts.
func allExtents(exts []sparse.Extent) func(context.Context, func(sparse.Extent) error) error {
	return func(_ context.Context, yield func(sparse.Extent) error) error {
		for _, e := range exts {
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	}
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// run reads the data extents of src in cluster-sized pieces, has the
// workers check for zeros and transform, and emits the results in order.
// Memory is bounded by a queue of 4 clusters per worker.
func (s *scan) run(ctx context.Context) error {
	extents, total := s.extents, s.total
	if extents == nil {
		exts, err := sparse.DataExtents(s.src, 0, s.srcSize)
		if err != nil {
			return err
		}
		total = 0
		for _, e := range exts {
			total += e.Len
		}
		extents = allExtents(exts)
	}
	counter := progress.OrNop(s.reporter).Counter(s.desc, total)
	defer counter.Done()
	if s.workers < 1 {
		s.workers = 1
	}
	if s.digest == nil {
		s.digest = sha256.New()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	depth := 4 * s.workers
	order := make(chan *chunk, depth)
	work := make(chan *chunk, depth)
	pool := sync.Pool{New: func() any { return &chunk{data: make([]byte, s.size)} }}

	var wg sync.WaitGroup
	for range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var t transformer
			if s.newT != nil {
				t = s.newT()
			}
			for c := range work {
				c.zero = isZero(c.data)
				if !c.zero {
					c.crc = crc32.Checksum(c.data, crcTable)
					if t != nil {
						c.out, c.err = t(c.out[:0], c.data)
					}
				}
				close(c.done)
			}
		}()
	}

	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		readErr <- s.read(ctx, extents, &pool, order, work)
	}()

	var emitErr error
	var b [12]byte
	for c := range order {
		<-c.done
		if emitErr == nil && ctx.Err() != nil {
			emitErr = ctx.Err()
		}
		if emitErr == nil && c.err != nil {
			emitErr = c.err
		}
		if emitErr == nil && !c.zero {
			binary.LittleEndian.PutUint64(b[:], uint64(c.idx))
			binary.LittleEndian.PutUint32(b[8:], c.crc)
			s.digest.Write(b[:])
			emitErr = s.emit(c.idx, c.data, c.out)
		}
		if emitErr != nil {
			cancel()
		}
		counter.Add(c.n)
		pool.Put(c)
	}
	wg.Wait()
	if err := <-readErr; err != nil && emitErr == nil {
		emitErr = err
	}
	return emitErr
}

func (s *scan) read(ctx context.Context, extents func(context.Context, func(sparse.Extent) error) error, pool *sync.Pool, order, work chan<- *chunk) error {
	var cur *chunk
	size := int64(s.size)
	send := func() error {
		if cur == nil {
			return nil
		}
		c := cur
		cur = nil
		select {
		case order <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		work <- c // never blocks for long: workers drain work
		return nil
	}
	err := extents(ctx, func(e sparse.Extent) error {
		for off := e.Off; off < e.End(); {
			idx := off / size
			base := idx * size
			end := min(base+size, e.End())
			if cur != nil && cur.idx != idx {
				if err := send(); err != nil {
					return err
				}
			}
			if cur == nil {
				cur = pool.Get().(*chunk)
				clear(cur.data)
				cur.idx, cur.n, cur.out, cur.err, cur.zero = idx, 0, cur.out[:0], nil, false
				cur.done = make(chan struct{})
			}
			if _, err := s.src.ReadAt(cur.data[off-base:end-base], off); err != nil {
				return fmt.Errorf("reading %s at %d: %w", s.src.Name(), off, err)
			}
			cur.n += end - off
			off = end
		}
		return nil
	})
	if err != nil {
		return err
	}
	return send()
}

var zeros = make([]byte, 1<<20)

// isZero reports whether b is all zeros.
func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
