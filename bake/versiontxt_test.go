package bake_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
)

// TestReadVersionTxt: the image's version comes from the version.txt
// beside it, parsed by osrelease (quotes undone; the old line cut kept a lone quote); none is "" (the version
// is then unknown), and one that does not parse is refused, never read
// as another version.
func TestReadVersionTxt(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if v, err := bake.ReadVersionTxt(img); v != "" || err != nil {
		t.Errorf("no version.txt: %q, %v", v, err)
	}
	vt := filepath.Join(dir, "version.txt")
	os.WriteFile(vt, []byte("FLATCAR_BUILD=4593\nFLATCAR_VERSION=\"4593.2.5\n"), 0o644)
	if v, err := bake.ReadVersionTxt(img); err == nil || !strings.Contains(err.Error(), vt) {
		t.Errorf("malformed version.txt: %q, %v", v, err)
	}
	os.WriteFile(vt, []byte("FLATCAR_BUILD=4593\nFLATCAR_VERSION='4593.2.5'\n"), 0o644)
	if v, err := bake.ReadVersionTxt(img); v != "4593.2.5" || err != nil {
		t.Errorf("quoted version: %q, %v", v, err)
	}
}
