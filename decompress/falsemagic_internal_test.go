package decompress

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// TestFalseMagic makes the scanner report block magics at positions that
// are not block boundaries, as a magic occurring by chance inside
// compressed data would: inside blocks, overlapping a real magic, inside
// the stream CRC and inside the next stream's header. The output must
// not change.
func TestFalseMagic(t *testing.T) {
	testutil.RequireTool(t, "bzip2")
	var want []byte
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; len(want) < 1<<20; i++ {
		w := []string{"flatcar ", "oem ", "usr ", "\n", "verity ", "0", "1"}
		want = append(want, w[r.IntN(len(w))]...)
	}
	want = append(want, make([]byte, 100000)...)
	want = append(want, want[:300000]...)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, want, 0o644); err != nil {
		t.Fatal(err)
	}
	one, err := exec.Command("bzip2", "-1", "-c", in).Output()
	if err != nil {
		t.Fatal(err)
	}
	bz := append(bytes.Clone(one), one...) // two streams
	n := int64(len(one)) * 8
	fakes := []int64{
		33, 32 + 5, 32 + 47, 32 + 48, 1000, 5000*8 + 3, n / 3, n/3 + 1, n / 2,
		n - 40, n - 20, n + 5, n + 30, n + 33, n + n/2, 2*n - 30,
	}
	for range 20 {
		fakes = append(fakes, 32+r.Int64N(2*n-64))
	}
	slices.Sort(fakes)
	fakes = slices.Compact(fakes)
	for _, workers := range []int{1, 3} {
		out := filepath.Join(dir, "out")
		src := bytes.NewReader(bz)
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Bzip2ToSparse(context.Background(), src, dst, Options{Workers: workers, fakeMagics: fakes})
		dst.Close()
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, append(bytes.Clone(want), want...)) {
			t.Fatalf("workers %d: output differs (%d bytes, want %d)", workers, len(got), 2*len(want))
		}
	}
}

// TestRealFalseMagic crafts a bzip2 file whose first block header holds
// a genuine block magic 70 bits after the real one: the last 10 bits of
// the block CRC, the randomised bit and the BWT origin together spell
// 0x314159265359. The input is chosen for that: its first byte is unique
// and exactly 706866 bytes are smaller (so origPtr is 706866), its byte
// values fall in the 16-value ranges that make the symbol map start with
// the magic's last bits, and its last two bytes are picked so that the
// CRC ends in the magic's first ten bits.
func TestRealFalseMagic(t *testing.T) {
	testutil.RequireTool(t, "bzip2")
	const (
		origPtr = 706866 // (blockMagic >> 13) & 0xffffff
		larger  = 100000
	)
	small := []byte{}
	for _, r := range []int{0, 3, 4, 6} { // ranges whose inUse16 bit is 1
		for v := range 16 {
			small = append(small, byte(r*16+v))
		}
	}
	large := []byte{}
	for _, r := range []int{9, 12} {
		for v := range 16 {
			large = append(large, byte(r*16+v))
		}
	}
	large = append(large, 0x81, 0x82, 0x8f)
	rng := rand.New(rand.NewPCG(5, 5))
	data := []byte{0x80} // unique; range 8
	pick := func(set []byte) byte {
		for {
			b := set[rng.IntN(len(set))]
			k := len(data)
			if k < 3 || data[k-1] != b || data[k-2] != b || data[k-3] != b {
				return b
			}
		}
	}
	ns, nl := origPtr, larger
	for ns+nl > 0 {
		if rng.IntN(ns+nl) < ns {
			data = append(data, pick(small))
			ns--
		} else {
			data = append(data, pick(large))
			nl--
		}
	}
	// Two more bytes (from large) set the CRC's low 10 bits.
	data = append(data, large[0], large[0])
	prefix := crcUpdate(^uint32(0), data[:len(data)-2])
	found := false
	for i := 0; i < len(large) && !found; i++ {
		for j := 0; j < len(large); j++ {
			a, b := large[i], large[j]
			if ^crcUpdate(prefix, []byte{a, b})&0x3ff == blockMagic>>38 {
				data[len(data)-2], data[len(data)-1] = a, b
				found = true
				break
			}
		}
	}
	if !found {
		t.Skip("no CRC fix found with these byte values")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	bz, err := exec.Command("bzip2", "-9", "-c", in).Output()
	if err != nil {
		t.Fatal(err)
	}
	// The crafted magic really is there, 70 bits into the first block.
	var w [8]byte
	copy(w[:], bz[102/8:])
	if got := binary.BigEndian.Uint64(w[:]) >> (16 - 102%8) & magicMask; got != blockMagic {
		t.Fatalf("crafting failed: bits at 102 are %012x", got)
	}
	for _, workers := range []int{1, 2} {
		out := filepath.Join(dir, "out")
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Bzip2ToSparse(context.Background(), bytes.NewReader(bz), dst, Options{Workers: workers})
		dst.Close()
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, data) {
			t.Fatalf("workers %d: output differs", workers)
		}
	}
}
