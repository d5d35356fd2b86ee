package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// Issue 10's output rules on real bakes: a missing --output-dir is made,
// a file there is refused, an existing output is kept unless --force, and
// converting an image to a vendor image needs no sysext.

// sgdiskVerify judges a raw GPT disk with sgdisk -v.
func sgdiskVerify(t *testing.T, disk string) {
	t.Helper()
	out, err := exec.Command("sgdisk", "-v", disk).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v %s: %v\n%s", disk, err, out)
	}
}

func TestOutputDirIsCreated(t *testing.T) {
	f := lifecycleFixture(t)
	testutil.RequireTool(t, "sgdisk")
	dir := t.TempDir()
	_, stderr, code := run(t, dir, "--image", f.image, "--output-dir", "a/b/c", "--mask", "docker-flatcar")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "a/b/c/flatcar_production_image.bin")
	sgdiskVerify(t, out)
	assertClean(t, "output directory", filepath.Dir(out), "flatcar_production_image.bin")

	// A file where the directory should be is refused and kept.
	os.WriteFile(filepath.Join(dir, "file"), []byte("keep"), 0o644)
	_, stderr, code = run(t, dir, "--image", f.image, "--output-dir", "file", "--mask", "docker-flatcar")
	if code != exitFailure || !strings.Contains(stderr, filepath.Join(dir, "file")+" exists and is not a directory") {
		t.Errorf("file as output dir: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "file")); string(b) != "keep" {
		t.Errorf("file changed: %q", b)
	}
}

// TestExistingOutputsNeedForce plants an existing output, for the plain
// image and for one vendor file: the run is refused before any work
// (nothing else appears, the file's hash is unchanged); with --force it
// is replaced by a valid output.
func TestExistingOutputsNeedForce(t *testing.T) {
	f := lifecycleFixture(t)
	testutil.RequireTool(t, "sgdisk", "qemu-img")
	dir := t.TempDir()
	cases := []struct {
		name, planted string
		args          []string
	}{
		{"plain image", "flatcar_production_image.bin", []string{"--mask", "docker-flatcar"}},
		{"vendor file", "flatcar_production_qemu_uefi.sh", []string{"--vendor", "qemu_uefi", "--compress", "none"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			planted := filepath.Join(out, c.planted)
			os.WriteFile(planted, []byte("an earlier output\n"), 0o644)
			sum := testutil.FileSHA256(t, planted)
			args := append([]string{"--image", f.image, "--output-dir", out}, c.args...)
			_, stderr, code := run(t, dir, args...)
			if code != exitFailure || !strings.Contains(stderr, planted+" exists: pass --force to replace it") {
				t.Errorf("without --force: exit %d: %s", code, stderr)
			}
			if testutil.FileSHA256(t, planted) != sum {
				t.Error("the existing output changed")
			}
			assertClean(t, "output directory", out, c.planted)

			_, stderr, code = run(t, dir, append(args, "--force")...)
			if code != 0 {
				t.Fatalf("with --force: exit %d: %s", code, stderr)
			}
			if st, err := os.Stat(planted); err != nil || st.Size() == int64(len("an earlier output\n")) {
				t.Error("--force did not replace the output")
			}
			if c.planted == "flatcar_production_image.bin" {
				sgdiskVerify(t, planted)
			} else if b, _ := os.ReadFile(planted); !strings.HasPrefix(string(b), "#!") {
				t.Errorf("replaced launcher script: %q", b)
			}
		})
	}
}

// TestVendorConversionWithoutSysext converts an image to qemu_uefi with
// no NAME:FILE (README: --vendor ... --compress none); judged by qemu-img
// check and sgdisk -v on the disk converted back to raw. --vendor ""
// means no vendor: the plain image.
func TestVendorConversionWithoutSysext(t *testing.T) {
	f := lifecycleFixture(t)
	testutil.RequireTool(t, "sgdisk", "qemu-img")
	dir := t.TempDir()
	_, stderr, code := run(t, dir, "--image", f.image, "--output-dir", "out", "--vendor", "qemu_uefi", "--compress", "none")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	img := filepath.Join(dir, "out", "flatcar_production_qemu_uefi_image.img")
	if out, err := exec.Command("qemu-img", "check", "-f", "qcow2", img).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check: %v\n%s", err, out)
	}
	raw := filepath.Join(dir, "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	sgdiskVerify(t, raw)

	_, stderr, code = run(t, dir, "--image", f.image, "--output-dir", "plain", "--vendor", "", "--mask", "docker-flatcar")
	if code != 0 {
		t.Fatalf(`--vendor "": exit %d: %s`, code, stderr)
	}
	assertClean(t, "output directory", filepath.Join(dir, "plain"), "flatcar_production_image.bin")
	_, stderr, code = run(t, dir, "--image", f.image, "--output-dir", "none", "--vendor", "")
	if code != exitUsage || !strings.Contains(stderr, "nothing to bake") {
		t.Errorf(`--vendor "" alone: exit %d: %s`, code, stderr)
	}
}
