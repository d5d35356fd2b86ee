package decompress

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// naiveUnRLE is the textbook RLE1 decoder.
func naiveUnRLE(pre []byte) []byte {
	var out []byte
	last, cnt := -1, 0
	for i := 0; i < len(pre); i++ {
		b := pre[i]
		out = append(out, b)
		if int(b) != last {
			last, cnt = int(b), 1
			continue
		}
		if cnt++; cnt == 4 && i+1 < len(pre) {
			i++
			out = append(out, bytes.Repeat([]byte{b}, int(pre[i]))...)
			last, cnt = -1, 0
		}
	}
	return out
}

func expand(o *blockOut) []byte {
	var out []byte
	lit := o.lit
	for _, s := range o.segs {
		out = append(out, lit[:s.lit]...)
		lit = lit[s.lit:]
		out = append(out, bytes.Repeat([]byte{s.b}, int(s.run))...)
	}
	return out
}

func TestUnRLE(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var o blockOut
	for iter := range 3000 {
		n := r.IntN(300)
		pre := make([]byte, n)
		alpha := 1 + r.IntN(4)
		for i := range pre {
			pre[i] = byte(r.IntN(alpha))
			if r.IntN(10) == 0 {
				pre[i] = byte(r.IntN(256))
			}
		}
		want := naiveUnRLE(pre)
		unRLE(pre, &o)
		got := expand(&o)
		if !bytes.Equal(got, want) || o.size != int64(len(want)) {
			t.Fatalf("iter %d: unRLE(%v) = %v (size %d), want %v", iter, pre, got, o.size, want)
		}
		if c := ^crcUpdate(^uint32(0), want); c != o.crc {
			t.Fatalf("iter %d: crc %08x, want %08x", iter, o.crc, c)
		}
		k := findRun(pre, 0)
		wk := len(pre)
		for j := 0; j+3 < len(pre); j++ {
			if pre[j] == pre[j+1] && pre[j] == pre[j+2] && pre[j] == pre[j+3] {
				wk = j
				break
			}
		}
		if k != wk {
			t.Fatalf("findRun(%v) = %d, want %d", pre, k, wk)
		}
	}
}

func TestCRCZeros(t *testing.T) {
	for _, n := range []int64{0, 1, 63, 64, 65, 1000, 1 << 20} {
		c := crcRun(0x12345678, 0, n)
		if w := crcUpdate(0x12345678, make([]byte, n)); c != w {
			t.Errorf("crcZeros(%d) = %08x, want %08x", n, c, w)
		}
	}
}
