package decompress

import "bytes"

// A disk image is mostly zeros, and bzip2 codes every full block of zeros
// the same way: the same bits (at any bit alignment), giving the same
// zeros (46 MB a block from bzip2 -9; 900 kB from lbzip2, which cuts its
// input into blocks first: thousands of blocks per image). Each worker remembers the last block it decoded whose
// coded form is short; a piece with exactly the same bits (same length,
// same bits up to the next magic) gets a copy of its output without being
// decoded again. Decoding is a function of those bits alone, so the copy
// is what decoding would give, block CRC check included (it passed for
// the same bits); the collector still folds the block CRC into the stream
// CRC and checks that.
const (
	repeatMaxBits = 64 << 10 // longest piece remembered (8 KiB coded)
	repeatMaxLit  = 64 << 10 // most literal bytes of a remembered output
)

type repeatCache struct {
	valid bool
	nbits int    // piece length in bits (magic to next magic)
	bits  []byte // its bits, from the magic, aligned to bit 0
	end   int    // where the block ended, in bits from the magic
	out   blockOut
	key   []byte // scratch for the bits of the piece being looked up
	hits  int    // lookups answered (tests)
}

// alignBits returns the nbits bits of data starting at bit off, shifted
// to start at bit 0 of dst[0] (the last byte's unused bits zero). data
// must hold the bytes up to bit off+nbits plus one.
func alignBits(dst, data []byte, off, nbits int) []byte {
	n := (nbits + 7) / 8
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	src := data[off/8:]
	sh := uint(off & 7)
	if sh == 0 {
		copy(dst, src[:n])
	} else {
		for i := range dst {
			dst[i] = src[i]<<sh | src[i+1]>>(8-sh)
		}
	}
	if r := nbits & 7; r != 0 {
		dst[n-1] &= byte(0xff << (8 - r))
	}
	return dst
}

// lookup fills out and returns the end (in bits from start) when the
// piece of data from bit start to bit limit is the remembered one.
func (c *repeatCache) lookup(data []byte, start, limit int, out *blockOut) (end int, ok bool) {
	nbits := limit - start
	if !c.valid || nbits != c.nbits {
		return 0, false
	}
	c.key = alignBits(c.key, data, start, nbits)
	if !bytes.Equal(c.key, c.bits) {
		return 0, false
	}
	out.reset()
	out.lit = append(out.lit, c.out.lit...)
	out.segs = append(out.segs, c.out.segs...)
	out.size, out.crc = c.out.size, c.out.crc
	c.hits++
	return c.end, true
}

// remember records a block decoded without error from the piece of data
// between bits start and limit, ending at bit end, if it is short enough.
// (It is called after lookup missed: the piece is not the remembered one.)
func (c *repeatCache) remember(data []byte, start, limit, end int, out *blockOut) {
	nbits := limit - start
	if nbits > repeatMaxBits || len(out.lit) > repeatMaxLit {
		return
	}
	c.bits = alignBits(c.bits, data, start, nbits)
	c.nbits, c.end = nbits, end-start
	c.out.reset()
	c.out.lit = append(c.out.lit, out.lit...)
	c.out.segs = append(c.out.segs, out.segs...)
	c.out.size, c.out.crc = out.size, out.crc
	c.valid = true
}
