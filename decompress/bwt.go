package decompress

// The inverse BWT. With LF(i) the row that is row i rotated right by one
// (it starts with L[i]) and FL its inverse, the block reads F[origPtr],
// F[FL(origPtr)], F[FL(FL(origPtr))], ...: a chain of dependent loads
// from a 3.6 MB array, nearly all of them cache misses. Following one
// chain, the CPU waits on memory; so walk follows many chains at once.
// (Measured per 900k block of binaries, thread CPU time: walking from
// both ends at once, two chains, 4.8 ms; twelve chains 2.0 ms; sixteen
// are slower again. A single chain, as bzip2 walks, is slower than two.)

const (
	walkChains = 12       // chains of the inverse BWT walked at once
	walkRegion = 32 << 10 // bytes a chain writes before it starts a new arc
	anchorFlag = 1 << 31  // marks anchor rows in d.tt (FL needs 20 bits)
	rowMask    = 1<<20 - 1
)

// arc is a stretch of the block found by one chain: the bytes
// scratch[off:off+n], read from row start up to (not including) row next.
type arc struct {
	start, next uint32
	off, n      int
}

// walk is the inverse BWT walk with walkChains independent chains,
// so that many cache misses are in flight at once while touching only
// d.tt (built by links).
//
// The forward walk is one cycle through the rows. Some rows are marked as
// anchors (origPtr among them) and a chain starts at each; a chain stops
// when it reaches the next anchor, so the chains cut the cycle into arcs,
// which are then put in order starting from origPtr. A chain that has
// written walkRegion bytes ends its arc there and goes on with a new one,
// which bounds the scratch space. A periodic block (a string repeated,
// as a block of zeros is) has one cycle per repetition: the arcs from
// origPtr close after one period, which is then repeated.
func (d *blockDecoder) walk() {
	n := d.n
	tt := d.tt[:n]
	pre := d.pre[:n]
	origPtr := uint32(d.origPtr)
	if n < 64*walkChains {
		f := origPtr
		for k := range pre {
			v := tt[f]
			pre[k] = byte(v)
			f = v >> 8 & rowMask
		}
		return
	}
	scratch := d.ll[:cap(d.ll)] // ll is free once links ran
	var pending [walkChains]uint32
	np := 0
	pending[np] = origPtr
	np++
	tt[origPtr] |= anchorFlag
	for i := 1; i < walkChains; i++ {
		r := uint32(i * n / walkChains)
		if tt[r]&anchorFlag == 0 {
			tt[r] |= anchorFlag
			pending[np] = r
			np++
		}
	}
	var (
		cur, start [walkChains]uint32
		wp, lim    [walkChains]int
		bump       int
	)
	arcs := d.arcs[:0]
	// Start every chain at an anchor, taking its first step here (the
	// anchor's own flag must not stop it).
	for i := 0; i < np; i++ {
		r := pending[i]
		v := tt[r]
		start[i], wp[i], lim[i] = r, bump, bump+walkRegion
		scratch[bump] = byte(v)
		wp[i]++
		bump += walkRegion
		cur[i] = v >> 8 & rowMask
	}
	// Chains 0..nactive-1 are walking; a chain that ends is replaced by
	// the last one. Row indexes are below 1<<20, so indexing the
	// fixed-size ttw needs no bounds check.
	ttw := (*[rowMask + 1]uint32)(d.tt[:rowMask+1])
	nactive := np
	for nactive > 0 {
		for i := 0; i < nactive && i < walkChains; i++ {
			c := cur[i]
			v := ttw[c&rowMask]
			if v&anchorFlag != 0 {
				arcs = append(arcs, arc{start: start[i], next: c, off: lim[i] - walkRegion, n: wp[i] - (lim[i] - walkRegion)})
				nactive--
				cur[i], start[i], wp[i], lim[i] = cur[nactive], start[nactive], wp[nactive], lim[nactive]
				i--
				continue
			}
			w := wp[i]
			scratch[w] = byte(v)
			w++
			wp[i] = w
			cur[i] = v >> 8 & rowMask
			if w == lim[i] {
				arcs = append(arcs, arc{start: start[i], next: cur[i], off: w - walkRegion, n: walkRegion})
				start[i], wp[i], lim[i] = cur[i], bump, bump+walkRegion
				bump += walkRegion
				if bump > len(scratch) {
					// Cannot happen for a permutation; keep memory safe.
					panic("inverse BWT scratch overflow")
				}
			}
		}
	}
	d.arcs = arcs
	for _, r := range pending[:np] {
		tt[r] &^= anchorFlag
	}
	// Put the arcs in order from origPtr.
	k := 0
	r := origPtr
	for k < n {
		ai := -1
		for j := range arcs {
			if arcs[j].start == r {
				ai = j
				break
			}
		}
		if ai < 0 {
			break
		}
		a := arcs[ai]
		k += copy(pre[k:], scratch[a.off:a.off+a.n])
		r = a.next
		if r == origPtr {
			break
		}
	}
	// A periodic block: repeat the period.
	if period := k; period > 0 {
		for k < n {
			k += copy(pre[k:], pre[:min(k, n-k)])
		}
	}
}

// links builds d.tt (FL(j)<<8 | F[j]) from d.ll[:d.n] and d.counts.
func (d *blockDecoder) links() {
	var c [256]uint32
	sum := uint32(0)
	for b := range 256 {
		c[b] = sum
		sum += uint32(d.counts[b])
	}
	n := d.n
	tt := d.tt[:n]
	for i, b := range d.ll[:n] {
		j := c[b]
		c[b]++
		tt[j] = uint32(i)<<8 | uint32(b)
	}
}
