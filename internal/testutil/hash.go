package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/bake-os/bake-os/sparse"
)

// FileSHA256 is the SHA-256 of a whole file, hex.
func FileSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("hashing %s: %v", p, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DataSHA256 hashes a sparse file's size and its data extents (offsets
// and bytes), streaming them and never reading its holes: two files with
// the same data in the same places hash the same, whatever their holes.
func DataSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	exts, err := sparse.DataExtents(f, 0, st.Size())
	if err != nil {
		t.Fatalf("listing data of %s: %v", p, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", st.Size())
	for _, e := range exts {
		fmt.Fprintf(h, "%d+%d\n", e.Off, e.Len)
		if _, err := io.Copy(h, io.NewSectionReader(f, e.Off, e.Len)); err != nil {
			t.Fatalf("hashing %s: %v", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
