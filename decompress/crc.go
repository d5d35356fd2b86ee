package decompress

import "encoding/binary"

// bzip2 uses CRC-32 with the IEEE polynomial, fed most significant bit
// first (not reflected), initial value and final XOR 0xffffffff.
const crcPoly = 0x04c11db7

var crcTab = makeCRCTables()

func makeCRCTables() (t [8][256]uint32) {
	for i := range 256 {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ crcPoly
			} else {
				c <<= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range 256 {
			c := t[k-1][i]
			t[k][i] = c<<8 ^ t[0][c>>24]
		}
	}
	return t
}

// crcUpdate feeds p into the (non-inverted) CRC register c.
func crcUpdate(c uint32, p []byte) uint32 {
	t := &crcTab
	for len(p) >= 8 {
		c ^= binary.BigEndian.Uint32(p)
		c = t[7][c>>24] ^ t[6][c>>16&0xff] ^ t[5][c>>8&0xff] ^ t[4][c&0xff] ^
			t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]
		p = p[8:]
	}
	for _, b := range p {
		c = c<<8 ^ t[0][byte(c>>24)^b]
	}
	return c
}

// crcRun feeds n copies of b into the register c.
func crcRun(c uint32, b byte, n int64) uint32 {
	if b == 0 {
		return crcZeros(c, n)
	}
	t := &crcTab[0]
	for ; n > 0; n-- {
		c = c<<8 ^ t[byte(c>>24)^b]
	}
	return c
}

// gfMul multiplies a and b as polynomials over GF(2) modulo the CRC
// polynomial (bit 31 is the x^31 coefficient).
func gfMul(a, b uint32) uint32 {
	var r uint32
	for i := 31; i >= 0; i-- {
		if r&0x80000000 != 0 {
			r = r<<1 ^ crcPoly
		} else {
			r <<= 1
		}
		if b>>uint(i)&1 != 0 {
			r ^= a
		}
	}
	return r
}

// zeroPow[k] is x^(8*2^k) mod P: feeding 2^k zero bytes multiplies the
// register by it.
var zeroPow = func() (p [64]uint32) {
	p[0] = 0x100 // x^8
	for k := 1; k < 64; k++ {
		p[k] = gfMul(p[k-1], p[k-1])
	}
	return p
}()

// crcZeros feeds n zero bytes into the register c in O(log n).
func crcZeros(c uint32, n int64) uint32 {
	if n < 64 {
		t := &crcTab[0]
		for ; n > 0; n-- {
			c = c<<8 ^ t[byte(c>>24)]
		}
		return c
	}
	for k := 0; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			c = gfMul(c, zeroPow[k])
		}
	}
	return c
}
