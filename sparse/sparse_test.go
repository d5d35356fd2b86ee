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
