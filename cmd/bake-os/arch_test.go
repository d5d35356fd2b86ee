package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestArchDefaultsToTheImage: without --arch an arm64 image bakes as
// arm64; --arch x86-64 on it is one line and a failure exit.
func TestArchDefaultsToTheImage(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs")
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{Arch: flatcar.ArchARM64}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(ctx, filepath.Join(dir, "ext.raw"), "ext", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n", nil); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	_, stderr, code := run(t, dir, "--image", "flatcar_production_image.bin", "--output-dir", "out", "--arch", "amd64", "ext:ext.raw")
	if code != exitFailure || !strings.Contains(stderr, "is arm64, --arch x86-64 given") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("--arch amd64 on an arm64 image: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := run(t, dir, "--image", "flatcar_production_image.bin", "--output-dir", "out", "--json", "ext:ext.raw")
	if code != 0 || !strings.Contains(stdout, `"arch": "arm64"`) {
		t.Errorf("no --arch: exit %d: %s%s", code, stdout, stderr)
	}
}
