package benchimage

import (
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestFillTreeCompressed checks that the tree reaches the target stored
// size and that each stored file is the zstd of the host file it names.
func TestFillTreeCompressed(t *testing.T) {
	dst := t.TempDir()
	const target = 3 << 20
	stored, host, err := fillTree(context.Background(), dst, target, true)
	if err != nil {
		t.Fatal(err)
	}
	if stored < target || stored > target+64<<20 {
		t.Errorf("stored %d bytes for a target of %d", stored, target)
	}
	if host <= stored {
		t.Errorf("host bytes %d not above stored %d: not compressed?", host, stored)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var sum int64
	n := 0
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum += int64(len(data))
		rel, _ := filepath.Rel(dst, p)
		orig, err := os.ReadFile(filepath.Join("/usr", rel))
		if err != nil {
			return err
		}
		plain, err := dec.DecodeAll(data, nil)
		if err != nil {
			t.Errorf("%s: not zstd: %v", rel, err)
		} else if !bytes.Equal(plain, orig) {
			t.Errorf("%s: does not decompress to /usr/%s", rel, rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum != stored || n == 0 {
		t.Errorf("tree holds %d bytes in %d files, fillTree said %d", sum, n, stored)
	}
}

// TestFillTreeRaw checks that raw files are host copies under their
// /usr-relative path, taken from more than one source directory.
func TestFillTreeRaw(t *testing.T) {
	dst := t.TempDir()
	const target = 4 << 20
	stored, host, err := fillTree(context.Background(), dst, target, false)
	if err != nil {
		t.Fatal(err)
	}
	if stored != host || stored < target {
		t.Errorf("stored %d, host %d, target %d", stored, host, target)
	}
	tops, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tops {
		names = append(names, e.Name())
	}
	if len(names) < 2 {
		t.Errorf("files from %v only, want several of bin, share, lib", names)
	}
}

// TestWriteBlob checks the exact size and that the blob hardly compresses
// (a kernel image is compressed data).
func TestWriteBlob(t *testing.T) {
	p := filepath.Join(t.TempDir(), "blob")
	const size = 2<<20 + 123
	if err := writeBlob(p, size); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != size {
		t.Fatalf("blob is %d bytes, want %d", len(data), size)
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(data)
	w.Close()
	if gz.Len() < size*9/10 {
		t.Errorf("gzip shrinks the blob to %d of %d bytes: too compressible for a kernel stand-in", gz.Len(), size)
	}
	if strings.Count(string(data[:4096]), "\x00") > 1024 {
		t.Errorf("blob starts with mostly zeros")
	}
}
