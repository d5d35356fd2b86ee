package sparse_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/sparse"
)

func TestCopyFileKeepsHolesAndData(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Create(filepath.Join(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const size = 1 << 30
	if err := src.Truncate(size); err != nil {
		t.Fatal(err)
	}
	a, b := make([]byte, 100000), make([]byte, 4096)
	rand.Read(a)
	rand.Read(b)
	src.WriteAt(a, 12345)
	src.WriteAt(b, size-4096)
	if err := sparse.CopyFile(context.Background(), filepath.Join(dir, "dst"), src, 0o644, nil); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Open(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	st, _ := dst.Stat()
	if st.Size() != size {
		t.Fatalf("size %d", st.Size())
	}
	got := make([]byte, len(a))
	dst.ReadAt(got, 12345)
	if !bytes.Equal(got, a) {
		t.Error("first extent differs")
	}
	got = make([]byte, len(b))
	dst.ReadAt(got, size-4096)
	if !bytes.Equal(got, b) {
		t.Error("last extent differs")
	}
	n, err := sparse.DataBytes(dst, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	if n > 1<<20 {
		t.Errorf("destination has %d data bytes, want it sparse", n)
	}
}

func TestReplacePunchesOldData(t *testing.T) {
	dir := t.TempDir()
	dst, _ := os.Create(filepath.Join(dir, "dst"))
	src, _ := os.Create(filepath.Join(dir, "src"))
	defer dst.Close()
	defer src.Close()
	dst.Truncate(1 << 24)
	src.Truncate(1 << 20)
	old := bytes.Repeat([]byte{0xaa}, 1<<20)
	dst.WriteAt(old, 1<<22)
	src.WriteAt([]byte("hello"), 0)
	if err := sparse.Replace(context.Background(), dst, src, 1<<22, 0, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1<<20)
	dst.ReadAt(got, 1<<22)
	if string(got[:5]) != "hello" || !sparse.IsZero(got[5:]) {
		t.Errorf("range not replaced: %q...", got[:8])
	}
}

// TestExtractRange copies a range out of a large sparse file: the copy
// has the range's size, its data at the same relative offsets, its holes,
// and Extract never overwrites an existing file.
func TestExtractRange(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Create(filepath.Join(dir, "disk"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	before, inside, after := make([]byte, 8192), make([]byte, 50000), make([]byte, 8192)
	for _, b := range [][]byte{before, inside, after} {
		rand.Read(b)
	}
	const off, length = 64 << 20, 256 << 20
	src.WriteAt(before, off-8192)
	src.WriteAt(inside, off+1000)
	src.WriteAt(after, off+length)
	out := filepath.Join(dir, "part")
	if err := sparse.Extract(context.Background(), out, src, off, length); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != length {
		t.Fatalf("copy is %d bytes, want %d", len(got), length)
	}
	want := make([]byte, length)
	copy(want[1000:], inside)
	if !bytes.Equal(got, want) {
		t.Error("the copy is not the range")
	}
	f, _ := os.Open(out)
	defer f.Close()
	if n, err := sparse.DataBytes(f, 0, length); err != nil || n > 1<<20 {
		t.Errorf("copy has %d data bytes (%v), want it sparse", n, err)
	}
	if err := sparse.Extract(context.Background(), out, src, 0, 4096); err == nil {
		t.Error("Extract overwrote an existing file")
	}
}
