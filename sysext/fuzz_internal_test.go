package sysext

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/corrupt"
)

// FuzzReadSquashfs writes bytes to a file and reads the extension-release
// out of it with the in-process squashfs reader, as a bake does first.
// Seeds are small real sysexts made by mksquashfs when the fuzzer starts
// (gzip, xz, zstd), plus damaged copies. Invariants: no panic escapes; a
// go-diskfs panic is reported as "reading IMAGE: corrupt squashfs image
// (...)"; a read returns at most maxFileSize bytes; an undamaged seed
// reads back exactly its extension-release.
func FuzzReadSquashfs(f *testing.F) {
	seeds := seedSquashfs(f)
	for _, comp := range []string{"gzip", "xz", "zstd"} {
		b := seeds[comp]
		f.Add(b)
		f.Add(b[:len(b)/2])
		flipped := bytes.Clone(b)
		flipped[len(b)/3] ^= 0x10
		f.Add(flipped)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		img := filepath.Join(dir, "fuzz.raw")
		if err := os.WriteFile(img, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if format, err := DetectFormat(img); err != nil || format != FormatSquashfs {
			return
		}
		data, err := readSquashfs(img, ReleasePath("demo"))
		if errors.Is(err, corrupt.ErrCorrupt) && !strings.HasPrefix(err.Error(), "reading "+img+": corrupt squashfs image (") {
			t.Fatalf("unclear corrupt-image error: %v", err)
		}
		if err == nil && len(data) > maxFileSize {
			t.Fatalf("read %d bytes, more than %d", len(data), maxFileSize)
		}
		for _, s := range seeds {
			if bytes.Equal(b, s) && (err != nil || string(data) != seedRelease) {
				t.Fatalf("undamaged seed read as %q, %v", data, err)
			}
		}
	})
}
