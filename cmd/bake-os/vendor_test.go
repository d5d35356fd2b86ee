package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestBakeWithVendor is the product's main path: a .bin.bz2 image, one
// sysext, --vendor qemu_uefi; judged by qemu-img and by reading the sysext
// back out of the converted disk.
func TestBakeWithVendor(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs", "qemu-img", "bzip2", "e2fsck")
	ctx := context.Background()
	dir := t.TempDir()
	rel := filepath.Join(dir, "release")
	os.MkdirAll(rel, 0o755)
	img := filepath.Join(rel, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Bzip2(ctx, img, img+".bz2"); err != nil {
		t.Fatal(err)
	}
	oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\nSYSEXT_VERSION_ID=4593.2.5\n"
	if err := testimage.Sysext(ctx, filepath.Join(rel, "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(ctx, filepath.Join(dir, "ext.raw"), "ext", "ID=flatcar\nSYSEXT_LEVEL=1.0\n", map[string]string{"usr/bin/ext": "x"}); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	os.Mkdir(filepath.Join(dir, "rel"), 0o755)
	stdout, stderr, code := run(t, dir, "--image", "release/flatcar_production_image.bin.bz2", "--output-dir", "out",
		"--vendor", "qemu_uefi", "--json", "ext:ext.raw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	arts := jsonArtifacts(t, stdout)
	disk := artifactOf(arts, "disk").Path
	if disk != filepath.Join(dir, "out/flatcar_production_qemu_uefi_image.img") {
		t.Fatalf("artifacts %+v", arts)
	}
	testutil.Run(t, "qemu-img", "check", disk)
	if st, err := os.Stat(disk); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("disk mode %v %v, want 0644", st.Mode(), err)
	}
	info := testutil.Run(t, "qemu-img", "info", "--output=json", disk)
	if !strings.Contains(info, `"format": "qcow2"`) || !strings.Contains(info, `"virtual-size": 13212057600`) {
		t.Errorf("qemu-img info: %s", info)
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", disk, raw)
	rootOff := int64(12722176) * 512
	testutil.Run(t, "e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", raw, rootOff))
	got, err := exec.Command("debugfs", "-R", "cat /opt/extensions/ext.raw", fmt.Sprintf("%s?offset=%d", raw, rootOff)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "ext.raw"))
	if string(got) != string(want) {
		t.Error("sysext in the qemu_uefi disk differs from the input")
	}
	// By default: what the platform runs, uncompressed, and no release
	// compressed copy.
	if got := outNames(t, filepath.Join(dir, "out")); got != qemuUEFIOutputs {
		t.Errorf("default outputs: %s\nwant %s", got, qemuUEFIOutputs)
	}
	// --compress release adds Flatcar's .img.bz2 beside the disk.
	_, stderr, code = run(t, dir, "--image", "release/flatcar_production_image.bin.bz2", "--output-dir", "rel",
		"--vendor", "qemu_uefi", "--compress", "release", "ext:ext.raw")
	if code != 0 {
		t.Fatalf("--compress release: exit %d: %s", code, stderr)
	}
	wantRel := qemuUEFIOutputs + " flatcar_production_qemu_uefi_image.img.bz2"
	if got := outNames(t, filepath.Join(dir, "rel")); got != wantRel {
		t.Errorf("--compress release outputs: %s\nwant %s", got, wantRel)
	}
	testutil.Run(t, "bzip2", "-t", filepath.Join(dir, "rel", "flatcar_production_qemu_uefi_image.img.bz2"))
}

// qemuUEFIOutputs are the files of --vendor qemu_uefi, sorted.
const qemuUEFIOutputs = "flatcar_production_qemu_uefi.README flatcar_production_qemu_uefi.sh " +
	"flatcar_production_qemu_uefi_efi_code.qcow2 flatcar_production_qemu_uefi_efi_vars.qcow2 " +
	"flatcar_production_qemu_uefi_image.img"

// outNames lists an output directory, sorted; a leftover temp file fails.
func outNames(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func TestVendorRefusals(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs")
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(ctx, filepath.Join(dir, "ext.raw"), "ext", "ID=_any\n", nil); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--vendor", "nosuch"}, exitUsage, "qemu_uefi"},
		{[]string{"--vendor", "azure"}, exitFailure, "oem-azure.raw"},
		{[]string{"--vendor", "gce", "--arch", "arm64"}, exitUsage, "gce"},
	} {
		args := append([]string{"--image", "flatcar_production_image.bin", "--output-dir", "out"}, c.args...)
		_, stderr, code := run(t, dir, append(args, "ext:ext.raw")...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d: %s", c.args, code, stderr)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, "out")); len(ents) != 0 {
			t.Errorf("%v: left %d entries in the output dir", c.args, len(ents))
		}
	}
}
