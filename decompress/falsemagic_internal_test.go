package decompress

import (
	"bytes"
	"context"
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
