package decompress

// The inverse BWT. With LF(i) the row that is row i rotated right by one
// (it starts with L[i]) and FL its inverse, the block reads forward as
// F[origPtr], F[FL(origPtr)], ... and backward as L[origPtr],
// L[LF(origPtr)], .... Both link arrays come out of one counting pass
// (links), so walk follows the block from both ends at once: two
// independent chains of dependent loads that miss the cache, which
// halves the time spent waiting on memory. (Walking two blocks at once,
// four chains, measured slower: the working set outgrows the cache.)

// links builds d.tt (FL(j)<<8 | F[j]) and d.lf (LF(i)<<8 | L[i]) from
// d.ll[:d.n] and d.counts.
func (d *blockDecoder) links() {
	var c [256]uint32
	sum := uint32(0)
	for b := range 256 {
		c[b] = sum
		sum += uint32(d.counts[b])
	}
	n := d.n
	ll := d.ll[:n]
	tt := d.tt[:n]
	lf := d.lf[:n]
	for i, b := range ll {
		j := c[b]
		c[b]++
		tt[j] = uint32(i)<<8 | uint32(b)
		lf[i] = j<<8 | uint32(b)
	}
}

// walk writes the block (still RLE1-coded) to d.pre[:d.n].
func (d *blockDecoder) walk() {
	n := d.n
	tt := d.tt[:n]
	lf := d.lf[:n]
	pre := d.pre[:n]
	f, r := uint32(d.origPtr), uint32(d.origPtr)
	half := n / 2
	for k := 0; k < half; k++ {
		v := tt[f]
		w := lf[r]
		pre[k] = byte(v)
		pre[n-1-k] = byte(w)
		f = v >> 8
		r = w >> 8
	}
	if n&1 != 0 {
		pre[half] = byte(tt[f])
	}
}
