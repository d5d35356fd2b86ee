package decompress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/bake-os/bake-os/progress"
)

// Options tunes Bzip2ToSparse. The zero value is ready to use.
type Options struct {
	// Workers decoding blocks in parallel; 0 means runtime.NumCPU().
	Workers int
	// Reporter receives progress in compressed bytes; nil reports nothing.
	Reporter progress.Reporter
	// Size of the compressed input when known (progress total); 0 = unknown.
	Size int64
	// HoleSize is the shortest zero run left as a hole; default 4096.
	// Shorter runs are written as data.
	HoleSize int
	// Name of the input for error messages; default "bzip2 stream".
	Name string
	// Written, when set, is called as the output grows with an offset
	// below which dst is final: every byte before it has been written
	// (or left as a hole) and will not change, so a reader may consume
	// dst up to there while decoding goes on. The offsets increase; the
	// last call, on success, is the output's length. It is called from
	// the decoding pipeline and must not block.
	Written func(end int64)

	fakeMagics []int64 // tests only: see scanner.fake
}

// Bzip2ToSparse decompresses the bzip2 data read from src (one stream or
// several concatenated) into dst, which it truncates to zero first. Zero
// runs of HoleSize bytes or more are seeked over, never written, so they
// stay holes; dst ends with the exact decompressed length. Blocks are
// decoded in parallel with a bounded number in flight.
//
// dst must be a regular file: holes are never written, so a device would
// keep stale data there (and Truncate refuses one). On error the content
// of dst is undefined: the caller deletes it (Bzip2FileToSparse does).
// Trailing bytes after the last stream that are not another stream are
// ignored, as bunzip2 does.
func Bzip2ToSparse(ctx context.Context, src io.Reader, dst *os.File, o Options) (written int64, err error) {
	name := o.Name
	if name == "" {
		name = "bzip2 stream"
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("decompressing %s: %w", name, err)
		}
	}()
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	holeSize := int64(o.HoleSize)
	if holeSize <= 0 {
		holeSize = 4096
	}
	var hdr [4]byte
	if n, err := io.ReadFull(src, hdr[:]); err != nil {
		if n == 0 || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, ErrNotBzip2
		}
		return 0, fmt.Errorf("reading compressed input: %w", err)
	}
	if !IsBzip2(hdr[:]) {
		return 0, ErrNotBzip2
	}
	if err := emptyFile(dst); err != nil {
		return 0, err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	inFlight := 2 * workers
	ordered := make(chan *piece, inFlight)
	work := make(chan *piece, inFlight)
	pool := newBufPool(2*inFlight + 2)

	var wg sync.WaitGroup
	var scanErr error
	var inputSize int64 // set by the scanner before it closes ordered
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ordered)
		defer close(work)
		sc := &scanner{
			r:     src,
			buf:   append(make([]byte, 0, 2*readSize), hdr[:]...),
			alloc: pool.getData,
			fake:  o.fakeMagics,
			emit: func(p *piece) error {
				if p.kind == kindBlock {
					p.done = make(chan struct{})
					p.out = pool.getOut()
				}
				select {
				case ordered <- p:
				case <-ctx.Done():
					return ctx.Err()
				}
				if p.kind == kindBlock {
					select {
					case work <- p:
					case <-ctx.Done():
						close(p.done)
						return ctx.Err()
					}
				}
				return nil
			},
		}
		scanErr = sc.run()
		inputSize = sc.base + int64(len(sc.buf))
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(ctx, work)
		}()
	}

	c := &collector{
		ctx:     ctx,
		in:      ordered,
		pool:    pool,
		w:       newSparseWriter(dst, holeSize),
		written: o.Written,
		pos:     32,
		counter: progress.OrNop(o.Reporter).Counter("decompressing "+name, sizeOrUnknown(o.Size)),
		inSize:  &inputSize,
	}
	err = c.run()
	c.counter.Done()
	cancel()
	// Drain so that the scanner and workers end.
	for p := range ordered {
		if p.done != nil {
			<-p.done
		}
	}
	wg.Wait()
	if scanErr != nil && !errors.Is(scanErr, context.Canceled) {
		err = scanErr // a read error, the cause of any truncation seen
	}
	if err == nil {
		err = parent.Err()
	}
	if err != nil {
		return 0, err
	}
	return c.w.off, nil
}

func sizeOrUnknown(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// decoders keeps the scratch memory (9 MB each) of finished workers for
// the next call.
var decoders sync.Pool

// worker decodes block pieces until work is closed.
func worker(ctx context.Context, work <-chan *piece) {
	d, _ := decoders.Get().(*blockDecoder)
	if d == nil {
		d = newBlockDecoder()
	}
	defer decoders.Put(d)
	for p := range work {
		if ctx.Err() != nil {
			p.fail(ctx.Err())
			continue
		}
		p.decodeWith(d)
		close(p.done)
	}
}

func (p *piece) fail(err error) {
	p.err = err
	close(p.done)
}

// decodeWith decodes block piece p with d.
func (p *piece) decodeWith(d *blockDecoder) {
	base := p.startBit &^ 7
	start, limit := int(p.startBit-base), int(p.endBit-base)
	if end, ok := d.repeat.lookup(p.data, start, limit, p.out); ok {
		p.end = base + int64(start+end)
		return
	}
	end, err := d.decode(p.data, start, limit, p.out)
	if err == nil {
		d.repeat.remember(p.data, start, limit, end, p.out)
	}
	p.end = base + int64(end)
	p.err = err
}

// bufPool recycles piece buffers and block outputs. (Free lists rather
// than sync.Pool, which drops everything at each garbage collection.)
type bufPool struct {
	data chan []byte
	outs chan *blockOut
}

func newBufPool(n int) *bufPool {
	return &bufPool{data: make(chan []byte, n), outs: make(chan *blockOut, n)}
}

func (b *bufPool) getData(n int) []byte {
	select {
	case d := <-b.data:
		if cap(d) >= n {
			return d[:n]
		}
	default:
	}
	return make([]byte, n, max(n, 1<<20+inputPad))
}

func (b *bufPool) putData(d []byte) {
	select {
	case b.data <- d:
	default:
	}
}

func (b *bufPool) getOut() *blockOut {
	select {
	case o := <-b.outs:
		return o
	default:
		return &blockOut{}
	}
}

func (b *bufPool) putOut(o *blockOut) {
	if o == nil || cap(o.lit) > 16<<20 {
		return
	}
	select {
	case b.outs <- o:
	default:
	}
}

// emptyFile truncates dst to nothing unless it is empty already: ext4
// writes a file truncated to zero out in full when it is closed
// (auto_da_alloc), which for a fresh temporary file is 700 MB of disk
// writes nobody asked for.
func emptyFile(dst *os.File) error {
	st, err := dst.Stat()
	if err == nil && st.Size() == 0 {
		return nil
	}
	if err := dst.Truncate(0); err != nil {
		return fmt.Errorf("truncating %s: %w", dst.Name(), err)
	}
	return nil
}
