package decompress

import (
	"math/rand/v2"
	"testing"
)

// TestMTFList checks the move-to-front list against a plain one, over
// long random runs with
// index distributions from "always small" to uniform, and alphabets of
// 1..256 symbols.
func TestMTFList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 24 {
		nsym := 1 + rng.IntN(256)
		if trial%4 == 0 {
			nsym = 256
		}
		syms := make([]byte, nsym)
		for i, v := range rng.Perm(256)[:nsym] {
			syms[i] = byte(v)
		}
		var ref [256]byte
		copy(ref[:], syms)
		var m mtfList
		m.init(syms)
		maxIdx := []int{1, 8, 16, 17, 64, 256}[trial%6]
		maxIdx = min(maxIdx, nsym)
		for op := range 20000 {
			idx := rng.IntN(maxIdx)
			if op%3 == 0 {
				idx = rng.IntN(nsym) // some large ones in every trial
			}
			want := ref[idx]
			copy(ref[1:idx+1], ref[:idx])
			ref[0] = want
			if got := m.front(uint(idx)); got != want {
				t.Fatalf("trial %d op %d: front(%d) = %d, want %d", trial, op, idx, got, want)
			}
			if op%97 == 0 || op > 19990 {
				for i := range 256 {
					if got := m.buf[mtfFront+i]; got != ref[i] {
						t.Fatalf("trial %d op %d: entry %d = %d, want %d", trial, op, i, got, ref[i])
					}
				}
			}
		}
	}
}

// TestMTFFarAVX2 checks the assembly long move against far over random
// moves of every index (the decoder uses it where the CPU has AVX2).
func TestMTFFarAVX2(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 on this CPU: the decoder uses far")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var a, b mtfList
	syms := make([]byte, 256)
	for i, v := range rng.Perm(256) {
		syms[i] = byte(v)
	}
	a.init(syms)
	b.init(syms)
	for op := range 200000 {
		idx := uint(rng.IntN(256))
		if op%5 == 0 {
			idx = 255 - uint(rng.IntN(3)) // the far end: every byte moves
		}
		want, got := a.far(idx), farAVX2(&b.buf, idx)
		if got != want {
			t.Fatalf("op %d: farAVX2(%d) = %d, far gives %d", op, idx, got, want)
		}
		if [256]byte(a.buf[mtfFront:]) != [256]byte(b.buf[mtfFront:]) {
			t.Fatalf("op %d: lists differ after moving %d", op, idx)
		}
	}
}
