package decompress

// inverseBWT undoes the Burrows-Wheeler transform of d.ll[:n] (the last
// column L of the sorted rotations, origPtr the row of the original
// block) into d.pre[:n].
//
// With LF(i) the row that is row i rotated right by one (it starts with
// L[i]) and FL its inverse, the block reads forward as F[origPtr],
// F[FL(origPtr)], ... and backward as L[origPtr], L[LF(origPtr)], ....
// Both link arrays come out of one counting pass, so the block is walked
// from both ends at once: two independent chains of dependent loads,
// which halves the time spent waiting on cache misses.
func (d *blockDecoder) inverseBWT(n, origPtr int, counts *[256]int) {
	var c [256]uint32
	sum := uint32(0)
	for b := range 256 {
		c[b] = sum
		sum += uint32(counts[b])
	}
	ll := d.ll[:n]
	tt := d.tt[:n]
	lf := d.lf[:n]
	for i, b := range ll {
		j := c[b]
		c[b]++
		tt[j] = uint32(i)<<8 | uint32(b)
		lf[i] = j<<8 | uint32(b)
	}
	pre := d.pre[:n]
	f, r := uint32(origPtr), uint32(origPtr)
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
