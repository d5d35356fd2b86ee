package decompress

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	maxBlockSize = 900000 // level 9; the stream's own level is not enforced
	groupSize    = 50     // symbols coded with one selector
	maxGroups    = 6
	maxSelectors = 32767 // 15-bit field
	// inputPad zero bytes follow every piece so the bit reader can load 8
	// bytes at a time and overshoot a group without bounds trouble.
	inputPad = 1024
	// groupWindow bytes from a group's first byte hold all its bits (at
	// most 50 codes of 20 bits) and what the bit reader loads past them.
	groupWindow = 256 + 8
)

var (
	// errNeedMore means the decode ran past the end of the bits it was
	// given: the boundary after the piece was a false magic (or the input
	// is truncated).
	errNeedMore   = errors.New("block continues past the next magic")
	errRandomised = errors.New("randomised bzip2 blocks (bzip2 0.9.0 and older) are not supported")
	errCRC        = errors.New("CRC mismatch")
)

// blockDecoder holds the scratch memory of one worker.
type blockDecoder struct {
	ll     []byte   // BWT last column, as decoded; then walk scratch
	tt     []uint32 // forward links: FL(j)<<8 | F[j]
	pre    []byte   // block after inverse BWT, still RLE1-coded
	sel    []uint8
	tables [maxGroups]huffTable
	arcs   []arc
	repeat repeatCache

	// Set by decodeSymbols.
	n, origPtr int
	storedCRC  uint32
	counts     [256]int
}

func newBlockDecoder() *blockDecoder {
	return &blockDecoder{
		ll:  make([]byte, maxBlockSize, maxBlockSize+(walkChains+1)*walkRegion),
		tt:  make([]uint32, maxBlockSize, rowMask+1), // walk indexes tt[:rowMask+1]
		pre: make([]byte, maxBlockSize),
		sel: make([]uint8, maxSelectors),
	}
}

// blockOut is one decoded block: a sequence of segments, each literal
// bytes (taken in order from lit) followed by run copies of one byte.
type blockOut struct {
	lit  []byte
	segs []seg
	size int64  // output bytes
	crc  uint32 // computed (final) CRC
}

type seg struct {
	lit uint32 // literal bytes first
	b   byte
	run int64 // then run copies of b
}

func (o *blockOut) reset() {
	o.lit = o.lit[:0]
	o.segs = o.segs[:0]
	o.size = 0
	o.crc = 0
}

// decode decodes the block whose magic starts at bit start of data and
// whose bits must end at or before bit limit (the start of the next
// magic). data must be followed by inputPad readable bytes (within
// cap/len). It returns the bit position where the block ends.
func (d *blockDecoder) decode(data []byte, start, limit int, out *blockOut) (end int, err error) {
	defer func() {
		// The stages after decodeSymbols work on a valid permutation and
		// cannot fail; this only keeps a bug from taking the process down.
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding block: internal error: %v", r)
		}
	}()
	end, err = d.decodeSymbols(data, start, limit)
	if err != nil {
		return end, err
	}
	d.inverseBWT()
	return end, d.finish(out)
}

// decodeSymbols does the first half of decode: it reads the block header
// and the Huffman-coded MTF symbols into d.ll, d.n, d.counts.
func (d *blockDecoder) decodeSymbols(data []byte, start, limit int) (end int, err error) {
	var (
		p     = start >> 3 // next byte to load
		bits  uint64       // left-aligned unread bits
		nbits uint
	)
	defer func() {
		// Any failure after reading past limit means the piece was cut
		// at a false magic (or the input is truncated), not corruption:
		// the bits up to limit+48 are real and pos() advances by at most
		// 20 bits per step.
		if err != nil && !errors.Is(err, errCRC) && p*8-int(nbits) > limit {
			err = errNeedMore
		}
	}()
	defer func() {
		// A garbage piece must never crash the process; bounds are
		// checked below, this is the last line of defence.
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt block data (%v)", r)
		}
	}()
	refill := func() {
		w := binary.BigEndian.Uint64(data[p:])
		bits |= w >> nbits
		p += int(63-nbits) >> 3
		nbits |= 56
	}
	pos := func() int { return p*8 - int(nbits) }
	get := func(n uint) uint32 {
		if nbits < n {
			refill()
		}
		v := uint32(bits >> (64 - n))
		bits <<= n
		nbits -= n
		return v
	}
	refill()
	get(uint(start & 7))
	get(24) // magic, checked by the scanner
	get(24)
	storedCRC := get(16)<<16 | get(16)
	if get(1) != 0 {
		return 0, errRandomised
	}
	origPtr := int(get(24))

	// Symbol map.
	var seqToUnseq [256]byte
	numInUse := 0
	inUse16 := get(16)
	for i := range 16 {
		if inUse16&(0x8000>>i) == 0 {
			continue
		}
		m := get(16)
		for j := range 16 {
			if m&(0x8000>>j) != 0 {
				seqToUnseq[numInUse] = byte(i*16 + j)
				numInUse++
			}
		}
	}
	if numInUse == 0 {
		return 0, errors.New("block uses no symbols")
	}
	alphaSize := numInUse + 2

	nGroups := int(get(3))
	if nGroups < 2 || nGroups > maxGroups {
		return 0, fmt.Errorf("invalid number of Huffman tables %d", nGroups)
	}
	nSelectors := int(get(15))
	if nSelectors == 0 {
		return 0, errors.New("no selectors")
	}
	var mtfSel [maxGroups]uint8
	for i := range mtfSel {
		mtfSel[i] = uint8(i)
	}
	for i := range nSelectors {
		j := 0
		for get(1) != 0 {
			j++
			if j >= nGroups {
				return 0, errors.New("invalid selector")
			}
		}
		v := mtfSel[j]
		copy(mtfSel[1:j+1], mtfSel[:j])
		mtfSel[0] = v
		d.sel[i] = v
		if i&127 == 0 && pos() > limit {
			return 0, errNeedMore
		}
	}

	var lens [maxAlphabet]uint8
	for t := range nGroups {
		curr := int(get(5))
		for i := range alphaSize {
			for {
				if curr < 1 || curr > maxCodeLen {
					return 0, errBadHuffman
				}
				if get(1) == 0 {
					break
				}
				if get(1) == 0 {
					curr++
				} else {
					curr--
				}
			}
			lens[i] = uint8(curr)
		}
		if err := d.tables[t].build(lens[:alphaSize]); err != nil {
			return 0, err
		}
	}
	if pos() > limit {
		return 0, errNeedMore
	}

	// Huffman + RUNA/RUNB + MTF into ll.
	n, p2, nbits2, err := d.huffLoop(data, p, bits, nbits, limit, nSelectors, numInUse, &seqToUnseq)
	p, nbits = p2, nbits2
	if err != nil {
		return 0, err
	}
	end = pos()
	if end > limit {
		return 0, errNeedMore
	}
	if origPtr >= n {
		return 0, fmt.Errorf("invalid BWT origin %d for %d bytes", origPtr, n)
	}
	d.n, d.origPtr, d.storedCRC = n, origPtr, storedCRC
	return end, nil
}

// inverseBWT turns d.ll[:d.n] into d.pre[:d.n].
func (d *blockDecoder) inverseBWT() {
	d.links()
	d.walk()
}

// finish undoes RLE1 of the walked block into out and checks its CRC.
func (d *blockDecoder) finish(out *blockOut) error {
	unRLE(d.pre[:d.n], out)
	if out.crc != d.storedCRC {
		return errCRC
	}
	return nil
}

// huffLoop decodes the Huffman-coded symbols of a block (after its
// tables) into d.ll and d.counts: RUNA/RUNB runs and move-to-front. It
// is a function of its own so that the bit reader state lives in
// registers. It returns the block length and the reader position.
func (d *blockDecoder) huffLoop(data []byte, p int, bits uint64, nbits uint, limit, nSelectors, numInUse int, seqToUnseq *[256]byte) (int, int, uint, error) {
	var mtf mtfList
	mtf.init(seqToUnseq[:numInUse])
	clear(d.counts[:])
	counts := &d.counts
	// Runs are filled eight bytes at a time, up to 7 bytes past their
	// end: ll has room (see newBlockDecoder).
	ll := (*[maxBlockSize + 8]byte)(d.ll[:maxBlockSize+8])
	n := 0
	run, runN := 0, 1
	eob := uint16(numInUse + 1)
	for selIdx := 0; ; selIdx++ {
		if selIdx >= nSelectors {
			return n, p, nbits, errors.New("ran out of selectors")
		}
		if p*8-int(nbits) > limit || p+groupWindow > len(data) {
			return n, p, nbits, errNeedMore
		}
		// The group's bits lie in win (q bytes loaded so far): indexes
		// into it need no bounds checks, and the loop below keeps
		// fewer values live.
		win := (*[groupWindow]byte)(data[p : p+groupWindow])
		q := 0
		tab := &d.tables[d.sel[selIdx]]
		for range groupSize {
			if nbits < 32 {
				w := binary.BigEndian.Uint64(win[q&255:])
				bits |= w >> nbits
				q += int(63-nbits) >> 3
				nbits |= 56
			}
			var sym uint16
			e := tab.lut[bits>>(64-lutBits)]
			if l := uint(e & 31); l != 0 {
				sym = e >> 5
				bits <<= l
				nbits -= l
			} else {
				s, l := tab.slow(bits)
				if l == 0 {
					return n, p + q, nbits, errBadHuffman
				}
				sym = s
				bits <<= l
				nbits -= l
			}
			if sym <= 1 {
				run += runN << sym
				runN <<= 1
				if run > maxBlockSize {
					return n, p + q, nbits, errors.New("run exceeds block size")
				}
				continue
			}
			if run > 0 {
				if n+run > maxBlockSize {
					return n, p + q, nbits, errors.New("block exceeds maximum size")
				}
				b := mtf.first()
				counts[b] += run
				w := uint64(b) * 0x0101010101010101
				for i := n; i < n+run; i += 8 {
					binary.LittleEndian.PutUint64(ll[i:], w)
				}
				n += run
				run, runN = 0, 1
			}
			if sym == eob {
				return n, p + q, nbits, nil
			}
			if n >= maxBlockSize {
				return n, p + q, nbits, errors.New("block exceeds maximum size")
			}
			// Move to front (mtfList.front, written out so that its
			// parts inline).
			idx := uint(sym - 1)
			var b byte
			if idx < 8 {
				b = mtf.near8(idx)
			} else if idx < 16 {
				b = mtf.near16(idx)
			} else if haveAVX2 {
				b = farAVX2(&mtf.buf, idx)
			} else {
				b = mtf.far(idx)
			}
			ll[n] = b
			n++
			counts[b]++
		}
		p += q
	}
}
