package decompress

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/bake-os/bake-os/progress"
)

// collector takes the pieces in stream order, accepts those that start
// exactly where the previous block or stream ended, checks the CRCs and
// writes the blocks.
type collector struct {
	ctx      context.Context
	in       <-chan *piece
	pool     *bufPool
	w        *sparseWriter
	counter  progress.Counter
	pos      int64  // absolute bit position where the next magic must be
	combined uint32 // stream CRC so far
	blocks   int    // blocks accepted
	finished bool   // the last stream ended; ignore the rest
	lastByte int64  // compressed bytes reported
	inEnd    int64  // end of the input seen so far (bytes)
	inSize   *int64 // whole input size, valid once in is closed
	dec      *blockDecoder
	written  func(end int64) // Options.Written
	final    int64           // last offset passed to written
}

// report passes the final part of the output to c.written.
func (c *collector) report() {
	if c.written == nil {
		return
	}
	if f := c.w.final(); f > c.final {
		c.final = f
		c.written(f)
	}
}

func (c *collector) next() (*piece, error) {
	select {
	case p, ok := <-c.in:
		if !ok {
			return nil, io.EOF
		}
		if e := p.startBit/8 + int64(p.dataLen); e > c.inEnd {
			c.inEnd = e
		}
		return p, nil
	case <-c.ctx.Done():
		return nil, c.ctx.Err()
	}
}

func (c *collector) release(p *piece) {
	if p.done != nil {
		<-p.done
	}
	c.pool.putData(p.data)
	c.pool.putOut(p.out)
}

// truncated is the error for an input that ends inside a stream; only
// called once in is closed.
func (c *collector) truncated() error {
	return corrupt("truncated bzip2 stream at byte %d", max(c.inEnd, *c.inSize))
}

func (c *collector) run() error {
	for {
		p, err := c.next()
		if errors.Is(err, io.EOF) {
			if !c.finished {
				return c.truncated()
			}
			if err := c.w.finish(); err != nil {
				return err
			}
			c.report()
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case c.finished || p.startBit < c.pos:
			// After the last stream, or a magic that occurred by chance
			// inside data already decoded.
			c.release(p)
			continue
		case p.startBit > c.pos:
			c.release(p)
			return corrupt("corrupt bzip2 stream: no block or end-of-stream marker at byte %d", c.pos/8)
		}
		if p.kind == kindBlock {
			err = c.block(p)
		} else {
			err = c.eos(p)
		}
		if err != nil {
			return err
		}
		if n := c.pos/8 - c.lastByte; n > 0 {
			c.counter.Add(n)
			c.lastByte += n
		}
	}
}

// block accepts the block piece p, decoding it again over the following
// pieces when it ran past a false magic.
func (c *collector) block(p *piece) error {
	<-p.done
	defer c.release(p)
	k := c.blocks + 1
	err, end := p.err, p.end
	data, n, endBit := p.data, p.dataLen, p.endBit
	from := p.startBit / 8
	for errors.Is(err, errNeedMore) {
		q, e := c.next()
		if errors.Is(e, io.EOF) {
			return c.truncated()
		}
		if e != nil {
			return e
		}
		off := int(q.startBit/8 - from)
		if off > n || off+q.dataLen > 2*maxPiece {
			c.release(q)
			return corrupt("corrupt bzip2 stream: block %d at byte %d never ends", k, from)
		}
		merged := make([]byte, off+q.dataLen+inputPad)
		copy(merged, data[:off])
		if q.done != nil {
			<-q.done
		}
		copy(merged[off:], q.data[:q.dataLen])
		data, n, endBit = merged, off+q.dataLen, q.endBit
		c.release(q)
		if c.dec == nil {
			c.dec = newBlockDecoder()
		}
		var e2 int
		e2, err = c.dec.decode(data, int(p.startBit-from*8), int(endBit-from*8), p.out)
		end = from*8 + int64(e2)
	}
	switch {
	case errors.Is(err, errCRC):
		return corrupt("CRC mismatch in block %d at byte %d", k, from)
	case err != nil:
		return corrupt("corrupt block %d at byte %d: %w", k, from, err)
	case end != endBit:
		return corrupt("corrupt bzip2 stream: no block or end-of-stream marker after block %d at byte %d", k, end/8)
	}
	c.combined = (c.combined<<1 | c.combined>>31) ^ p.out.crc
	if err := c.w.block(p.out); err != nil {
		return err
	}
	c.report()
	c.blocks = k
	c.pos = end
	return nil
}

// eos checks the end-of-stream marker at c.pos and looks for a following
// stream.
func (c *collector) eos(p *piece) error {
	defer c.release(p)
	from := p.startBit / 8
	view := p.data[:p.dataLen]
	// have makes view cover input bytes up to end (exclusive); false
	// means the input ends first.
	have := func(end int64) (bool, error) {
		for from+int64(len(view)) < end {
			q, err := c.next()
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			off := int(q.startBit/8 - from)
			if off > len(view) {
				c.release(q)
				return false, corrupt("corrupt bzip2 stream: end-of-stream marker at byte %d cut short", c.pos/8)
			}
			if q.done != nil {
				<-q.done
			}
			v := make([]byte, off+q.dataLen)
			copy(v, view[:off])
			copy(v[off:], q.data[:q.dataLen])
			view = v
			c.release(q)
		}
		return true, nil
	}
	ok, err := have((c.pos + 80 + 7) / 8)
	if err != nil {
		return err
	}
	if !ok {
		return c.truncated()
	}
	bitOff := c.pos + 48 - from*8
	var w [16]byte
	copy(w[:], view[bitOff/8:])
	v := binary.BigEndian.Uint64(w[:]) << (bitOff & 7)
	stored := uint32(v >> 32)
	if stored != c.combined {
		return corrupt("stream CRC mismatch at byte %d", c.pos/8)
	}
	next := (c.pos + 80 + 7) / 8
	ok, err = have(next + 4)
	if err != nil {
		return err
	}
	if ok && IsBzip2(view[next-from:]) {
		c.pos = (next + 4) * 8
		c.combined = 0
		return nil
	}
	// End of the last stream; anything after it is ignored.
	c.finished = true
	c.pos = next * 8
	return nil
}

// dataError is an error in the compressed data (as opposed to reading
// or writing); it matches ErrCorrupt.
type dataError struct{ error }

func (dataError) Is(target error) bool { return target == ErrCorrupt }

func (e dataError) Unwrap() error { return e.error }

func corrupt(format string, args ...any) error {
	return dataError{fmt.Errorf(format, args...)}
}
