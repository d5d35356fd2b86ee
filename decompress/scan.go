package decompress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	blockMagic = 0x314159265359
	eosMagic   = 0x177245385090
	magicMask  = 1<<48 - 1

	readSize = 1 << 20
	// maxPiece bounds the bytes kept for one piece. A real block is at
	// most about 2.3 MB compressed (900k symbols of at most 20 bits); a
	// longer stretch without a magic is garbage.
	maxPiece = 4 << 20
)

const (
	kindBlock = iota
	kindEOS
)

// piece is the compressed stream from one magic to the next.
type piece struct {
	kind     int
	startBit int64 // absolute bit position of the magic
	endBit   int64 // absolute bit position of the next magic, or of EOF
	// data holds bytes startBit/8 up to endBit/8+7 (or EOF), then
	// inputPad zero bytes (in len; use dataLen for the real bytes).
	data    []byte
	dataLen int
	// Filled by the worker before done is closed (block pieces).
	done chan struct{}
	out  *blockOut
	end  int64 // absolute bit position where the block ended
	err  error
}

// magicPairs[v] tells, for the two bytes v at offsets q+1,q+2, which bit
// shifts s (bit s of byte q) could start a magic: low byte for the block
// magic, high byte for end of stream.
var magicPairs = func() (t [1 << 16]uint16) {
	for s := range 8 {
		t[blockMagic>>(24+s)&0xffff] |= 1 << s
		t[eosMagic>>(24+s)&0xffff] |= 0x100 << s
	}
	return t
}()

// scanner cuts the compressed input into pieces at every bit-aligned
// magic.
type scanner struct {
	r    io.Reader
	buf  []byte
	base int64 // absolute offset of buf[0]
	eof  bool

	open     bool // a piece is being collected
	openKind int
	openBit  int64
	q        int64 // next absolute byte offset to test as a magic's first byte

	// fake lists bit positions (sorted) where tests pretend a block
	// magic occurs, to exercise false-magic handling.
	fake []int64

	emit func(*piece) error
	// alloc returns a zeroed-padding byte slice of at least n bytes.
	alloc func(n int) []byte
}

var (
	// ErrNotBzip2 is returned for an input that does not start with a
	// bzip2 header.
	ErrNotBzip2 = errors.New("not a bzip2 stream (no BZh header)")
	// ErrCorrupt matches every error about the compressed data itself:
	// truncated, corrupt, CRC mismatch.
	ErrCorrupt = errors.New("corrupt bzip2 data")
)

// IsBzip2 reports whether header starts like a bzip2 stream ("BZh" and a
// block size digit 1-9).
func IsBzip2(header []byte) bool {
	return len(header) >= 4 && header[0] == 'B' && header[1] == 'Z' && header[2] == 'h' &&
		header[3] >= '1' && header[3] <= '9'
}

// fill reads more input, dropping bytes no longer needed. It returns
// false at EOF.
func (s *scanner) fill() error {
	if s.eof {
		return io.EOF
	}
	keep := s.q - 1 // one byte of look-behind
	if s.open && s.openBit/8 < keep {
		keep = s.openBit / 8
	}
	if keep < s.base {
		keep = s.base
	}
	drop := int(keep - s.base)
	if drop > 0 {
		n := copy(s.buf, s.buf[drop:])
		s.buf = s.buf[:n]
		s.base += int64(drop)
	}
	if cap(s.buf)-len(s.buf) < readSize {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+readSize)
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := io.ReadAtLeast(s.r, s.buf[len(s.buf):cap(s.buf)], 1)
	s.buf = s.buf[:len(s.buf)+n]
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		s.eof = true
		if n > 0 {
			return nil
		}
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("reading compressed input: %w", err)
	}
	return nil
}

// cut ends the open piece at absolute bit endBit (and its data at byte
// dataEnd, exclusive) and hands it on.
func (s *scanner) cut(endBit, dataEnd int64) error {
	if !s.open {
		return nil
	}
	from := s.openBit / 8
	if end := s.base + int64(len(s.buf)); dataEnd > end {
		dataEnd = end
	}
	n := int(dataEnd - from)
	data := s.alloc(n + inputPad)
	copy(data, s.buf[from-s.base:dataEnd-s.base])
	clear(data[n:])
	p := &piece{kind: s.openKind, startBit: s.openBit, endBit: endBit, data: data, dataLen: n}
	s.open = false
	return s.emit(p)
}

// mark ends the open piece at a magic at bit and opens the next one.
func (s *scanner) mark(kind int, bit int64) error {
	if err := s.cut(bit, bit/8+7); err != nil {
		return err
	}
	s.open, s.openKind, s.openBit = true, kind, bit
	return nil
}

// run scans the whole input. The caller has checked the 4-byte header;
// scanning starts at byte 4.
func (s *scanner) run() error {
	s.q = 4
	for {
		// Test q while bytes q..q+7 are in the buffer.
		end := s.base + int64(len(s.buf))
		limit := end - 8
		if s.eof {
			limit = end - 6 // the last magic can end at EOF
		}
		buf, base := s.buf, s.base
		nextFake := int64(1) << 62
		if len(s.fake) > 0 {
			nextFake = s.fake[0]
		}
		for q := s.q; q < limit; q++ {
			i := int(q - base)
			// Seven positions at a time while none can start a magic
			// (nor a fake one): one load, one branch.
			for q+7 <= limit && i+9 <= len(buf) && (q+7)*8 <= nextFake {
				w := binary.BigEndian.Uint64(buf[i+1:])
				if magicPairs[uint16(w>>48)]|magicPairs[uint16(w>>40)]|magicPairs[uint16(w>>32)]|
					magicPairs[uint16(w>>24)]|magicPairs[uint16(w>>16)]|magicPairs[uint16(w>>8)]|
					magicPairs[uint16(w)] != 0 {
					break
				}
				q += 7
				i += 7
			}
			if q >= limit {
				break
			}
			m := magicPairs[uint16(buf[i+1])<<8|uint16(buf[i+2])]
			if m == 0 && q*8+8 <= nextFake {
				continue
			}
			var w uint64
			if i+8 <= len(buf) {
				w = binary.BigEndian.Uint64(buf[i:])
			} else {
				var t [8]byte
				copy(t[:], buf[i:])
				w = binary.BigEndian.Uint64(t[:])
			}
			for sh := range 8 {
				bit := q*8 + int64(sh)
				for bit == nextFake {
					if err := s.mark(kindBlock, bit); err != nil {
						return err
					}
					s.fake = s.fake[1:]
					nextFake = int64(1) << 62
					if len(s.fake) > 0 {
						nextFake = s.fake[0]
					}
				}
				kind := -1
				if m&(1<<sh) != 0 && (w>>(16-sh))&magicMask == blockMagic {
					kind = kindBlock
				} else if m&(0x100<<sh) != 0 && (w>>(16-sh))&magicMask == eosMagic {
					kind = kindEOS
				}
				if kind < 0 {
					continue
				}
				if err := s.mark(kind, bit); err != nil {
					return err
				}
			}
			if s.open && (q+8)-s.openBit/8 > maxPiece {
				// No magic for too long: hand on what we have; the
				// collector decides whether it needed more.
				if err := s.cut(q*8, q); err != nil {
					return err
				}
			}
		}
		if limit > s.q {
			s.q = limit
		}
		if err := s.fill(); err != nil {
			if errors.Is(err, io.EOF) {
				end := s.base + int64(len(s.buf))
				return s.cut(end*8, end)
			}
			return err
		}
	}
}
