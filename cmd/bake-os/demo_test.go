package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

func TestDemo(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "bzip2", "qemu-img")
	dir := t.TempDir()
	stdout, stderr, code := run(t, dir, "demo", "--dir", "d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "hello.raw -> /opt/extensions/hello/hello-1.0.0-x86-64.raw") || !strings.Contains(stdout, "docker-flatcar.raw -> /dev/null") {
		t.Errorf("inspect output: %s", stdout)
	}
	img := filepath.Join(dir, "d/output/flatcar_production_qemu_uefi_image.img")
	testutil.Run(t, "qemu-img", "check", img)
	if _, err := os.Stat(filepath.Join(dir, "d/output/flatcar_production_qemu_uefi.sh")); err != nil {
		t.Error(err)
	}
}
