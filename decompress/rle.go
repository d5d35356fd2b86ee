package decompress

import (
	"encoding/binary"
	"math/bits"
)

// minRun is the shortest run of one byte kept as a run segment rather
// than copied into the literal bytes.
const minRun = 32

// unRLE undoes bzip2's first run-length stage (four equal bytes are
// followed by a count of 0..255 more) into segments, and computes the
// block CRC. Runs are kept as runs, so a block of zeros costs almost
// nothing.
func unRLE(pre []byte, o *blockOut) {
	o.reset()
	crc := ^uint32(0)
	lit := o.lit
	segs := o.segs
	litStart := 0
	var size int64
	n := len(pre)
	i := 0
	for i < n {
		// Bytes up to the first four equal ones are literal; the byte
		// after those four is a count of further copies.
		k := findRun(pre, i)
		if k+4 > n {
			lit = append(lit, pre[i:]...)
			break
		}
		lit = append(lit, pre[i:k+4]...)
		b := pre[k]
		i = k + 4
		if i >= n {
			break // four equal bytes end the block without a count
		}
		z := int64(pre[i])
		i++
		total := z + 4
		if len(lit)-4 == litStart && len(segs) > 0 && segs[len(segs)-1].b == b {
			// Directly continues the previous run.
			lit = lit[:litStart]
			segs[len(segs)-1].run += total
			continue
		}
		if total < minRun {
			for ; z > 0; z-- {
				lit = append(lit, b)
			}
			continue
		}
		lit = lit[:len(lit)-4]
		if len(segs) > 0 {
			s := &segs[len(segs)-1]
			crc = crcRun(crc, s.b, s.run)
			size += s.run
		}
		crc = crcUpdate(crc, lit[litStart:])
		size += int64(len(lit) - litStart)
		segs = append(segs, seg{lit: uint32(len(lit) - litStart), b: b, run: total})
		litStart = len(lit)
	}
	if len(segs) > 0 {
		s := &segs[len(segs)-1]
		crc = crcRun(crc, s.b, s.run)
		size += s.run
	}
	crc = crcUpdate(crc, lit[litStart:])
	size += int64(len(lit) - litStart)
	if len(lit) > litStart {
		segs = append(segs, seg{lit: uint32(len(lit) - litStart)})
	}
	o.lit, o.segs, o.size, o.crc = lit, segs, size, ^crc
}

// findRun returns the first k >= i with p[k] == p[k+1] == p[k+2] ==
// p[k+3], or len(p) when there is none. Eight bytes at a time: byte j of
// y is zero when p[k+j] == p[k+j+1].
func findRun(p []byte, i int) int {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	n := len(p)
	k := i
	for ; k+8 <= n; k += 5 {
		x := binary.LittleEndian.Uint64(p[k:])
		y := x ^ x>>8
		z := ^((y&lo7 + lo7) | y | lo7) // 0x80 in each zero byte of y
		t := z & (z >> 8) & (z >> 16) & 0x8080808080
		if t != 0 {
			return k + bits.TrailingZeros64(t)>>3
		}
	}
	for ; k+3 < n; k++ {
		if p[k] == p[k+1] && p[k] == p[k+2] && p[k] == p[k+3] {
			return k
		}
	}
	return n
}
