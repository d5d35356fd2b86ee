package decompress_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/decompress"
)

func TestBzip2FileToSparse(t *testing.T) {
	data := append(textish(300000, 11), make([]byte, 1<<20)...)
	bz := compress(t, writeFile(t, "img.bin", data), "bzip2", "-1")
	dir := t.TempDir()
	dst := filepath.Join(dir, "image.bin")
	n, err := decompress.Bzip2FileToSparse(context.Background(), bz, dst, decompress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("output differs (%d bytes, want %d)", n, len(data))
	}

	// A corrupt input leaves nothing behind, not even a temporary file.
	d, _ := os.ReadFile(bz)
	bad := writeFile(t, "bad.bz2", d[:len(d)/2])
	dst2 := filepath.Join(dir, "bad.bin")
	_, err = decompress.Bzip2FileToSparse(context.Background(), bad, dst2, decompress.Options{})
	if !errors.Is(err, decompress.ErrCorrupt) {
		t.Fatalf("truncated input: err = %v, want ErrCorrupt", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after a failure, want only image.bin", len(ents))
	}
}
