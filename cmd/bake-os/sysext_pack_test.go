package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
	"github.com/bake-os/bake-os/vendors"
)

func TestSysextPackCommand(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	cwd := t.TempDir()
	tree := filepath.Join(cwd, "myext")
	if err := os.MkdirAll(filepath.Join(tree, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "usr/bin/tool"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out, errOut, code := run(t, cwd, "sysext", "pack", "myext", "--arch", "amd64", "--os", "flatcar", "--reload", "--sysupdate")
	if code != 0 {
		t.Fatalf("sysext pack: exit %d: %s", code, errOut)
	}
	img := filepath.Join(cwd, "myext.raw")
	if strings.TrimSpace(out) != img {
		t.Errorf("stdout %q, want %s", out, img)
	}
	if !strings.Contains(errOut, "bake-os: warning: ") || !strings.Contains(errOut, "etc is outside usr/ and opt/") {
		t.Errorf("stderr lacks the etc warning: %q", errOut)
	}
	rel := testutil.Run(t, "unsquashfs", "-cat", img, "usr/lib/extension-release.d/extension-release.myext")
	if rel != "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n" {
		t.Errorf("extension-release:\n%s", rel)
	}
	cmd := exec.Command("unsquashfs", "-lln", img, "usr/bin/tool")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	ls, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(ls), "0/0") || !strings.Contains(string(ls), "2023-11-14 22:13") {
		t.Errorf("unsquashfs -lln: %v\n%s", err, ls)
	}
	for _, f := range []string{"SHA256SUMS.myext", "myext.conf"} {
		if _, err := os.Stat(filepath.Join(cwd, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}

	// The global flags: --json puts only JSON on stdout, -q drops the
	// warning.
	out, errOut, code = run(t, cwd, "sysext", "pack", "myext", "--json", "-q", "--output", "j.raw")
	if code != 0 || strings.TrimSpace(out) != `{
  "output": "`+filepath.Join(cwd, "j.raw")+`"
}` || errOut != "" {
		t.Errorf("pack --json -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// usr/sbin is refused (exit 1), a bad format is a usage error (exit 2).
	if err := os.MkdirAll(filepath.Join(tree, "usr/sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, cwd, "sysext", "pack", "myext"); code != 1 || !strings.Contains(errOut, "usr/sbin") {
		t.Errorf("pack with usr/sbin: exit %d, %q; want 1 naming usr/sbin", code, errOut)
	}
	if _, _, code := run(t, cwd, "sysext", "pack", "myext", "--format", "zip"); code != 2 {
		t.Errorf("pack --format zip: exit %d, want 2", code)
	}
	if _, _, code := run(t, cwd, "sysext", "pack", "myext", "--ext-fs-size", "lots"); code != 2 {
		t.Errorf("pack --ext-fs-size lots: exit %d, want 2", code)
	}
}

func TestSysextReleaseCommand(t *testing.T) {
	cwd := t.TempDir()
	out := filepath.Join(cwd, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// Every image already exists, so nothing is downloaded or built.
	for _, f := range []string{"wasmtime-24.0.0-x86-64.raw", "wasmtime-24.0.0-arm64.raw"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cwd, "versions.txt"), []byte("# test\nwasmtime-24.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code := run(t, cwd, "sysext", "release", "--versions", "versions.txt", "--output-dir", "out", "--jobs", "3")
	if code != 0 {
		t.Fatalf("sysext release: exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, filepath.Join(out, "SHA256SUMS")) || !strings.Contains(errOut, "skipping wasmtime-24.0.0-arm64.raw") {
		t.Errorf("stdout %q stderr %q", stdout, errOut)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil || strings.Count(string(sums), ".raw\n") != 2 {
		t.Errorf("SHA256SUMS: %v\n%s", err, sums)
	}
	if _, _, code := run(t, cwd, "sysext", "release", "--versions", "versions.txt", "--arch", "mips"); code != 2 {
		t.Errorf("release --arch mips: exit %d, want 2", code)
	}
	if _, _, code := run(t, cwd, "sysext", "release", "--versions", "missing.txt"); code != 1 {
		t.Errorf("release with a missing versions file: exit %d, want 1", code)
	}
}

// TestSysextPackOEMForVendors: an OEM sysext made with "sysext pack --oem"
// is what the vendor code needs for a qemu_uefi image without --release:
// it finds oem-qemu.raw, reads its extension-release (checked here with
// unsquashfs too) and renders /oem-release from it. A plain sysext named
// oem-qemu is not enough (no SYSEXT_ID), which is why --oem exists.
func TestSysextPackOEMForVendors(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	cwd := t.TempDir()
	tree := filepath.Join(cwd, "qemu-oem")
	if err := os.MkdirAll(filepath.Join(tree, "usr/share/oem"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "usr/share/oem/README"), []byte("qemu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	qemu, ok := vendors.Lookup("qemu_uefi")
	if !ok {
		t.Fatal("no qemu_uefi vendor")
	}
	preflight := func(oemDir string) error {
		return vendors.Preflight(context.Background(), []vendors.Vendor{qemu},
			vendors.BuildOptions{OutputDir: t.TempDir(), OEMSysextDir: oemDir, Compress: "none"})
	}

	// Without --oem the vendor code refuses it.
	plain := filepath.Join(cwd, "plain")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, cwd, "sysext", "pack", "qemu-oem", "--name", "oem-qemu", "--os", "flatcar", "--arch", "x86-64", "--output", filepath.Join(plain, "oem-qemu.raw")); code != 0 {
		t.Fatalf("plain pack: exit %d: %s", code, errOut)
	}
	if err := preflight(plain); err == nil || !strings.Contains(err.Error(), "SYSEXT_ID") {
		t.Errorf("vendor preflight with a plain sysext: %v, want a missing SYSEXT_ID refusal", err)
	}

	out, errOut, code := run(t, cwd, "sysext", "pack", "qemu-oem", "--oem", "qemu", "--flatcar-version", "4593.2.5")
	if code != 0 {
		t.Fatalf("sysext pack --oem: exit %d: %s", code, errOut)
	}
	img := filepath.Join(cwd, "oem-qemu.raw")
	if strings.TrimSpace(out) != img {
		t.Errorf("stdout %q, want %s", out, img)
	}
	rel := testutil.Run(t, "unsquashfs", "-cat", img, "usr/lib/extension-release.d/extension-release.oem-qemu")
	if rel != "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\nSYSEXT_ID=oem-qemu\nSYSEXT_VERSION_ID=4593.2.5\n" {
		t.Errorf("extension-release.oem-qemu:\n%s", rel)
	}
	if err := preflight(cwd); err != nil {
		t.Errorf("vendor preflight with the OEM sysext: %v", err)
	}
	data, err := vendors.ReadExtensionRelease(context.Background(), img, "oem-qemu")
	if err != nil {
		t.Fatal(err)
	}
	if oemRelease, err := vendors.OEMRelease(data); err != nil || oemRelease != "ID=qemu\nVERSION_ID=4593.2.5\n" {
		t.Errorf("/oem-release = %q, %v", oemRelease, err)
	}

	// Usage errors exit 2.
	for _, args := range [][]string{
		{"sysext", "pack", "qemu-oem", "--flatcar-version", "1.2.3"},
		{"sysext", "pack", "qemu-oem", "--oem", "qemu", "--name", "qemu"},
	} {
		if _, errOut, code := run(t, cwd, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errOut)
		}
	}
}

// TestSysextPackOEMVendorBuild is the offline OEM path end to end: an OEM
// sysext made with "sysext pack --oem qemu" beside the image is what a
// qemu_uefi vendor build installs. Judged by btrfs restore of the output's
// OEM partition: the sysext is there byte for byte as
// /sysext/oem-qemu-VERSION.raw with its active-oem-qemu marker, and
// /oem-release is rendered from the packed metadata.
func TestSysextPackOEMVendorBuild(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "unsquashfs", "qemu-img", "btrfs", "sgdisk", "debugfs")
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	vt, err := os.ReadFile(filepath.Join(dir, "version.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, l := range strings.Split(string(vt), "\n") {
		if v, ok := strings.CutPrefix(l, "FLATCAR_VERSION="); ok {
			version = v
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "qemu-oem/usr/share/oem/marker"), "qemu oem\n")
	write(filepath.Join(dir, "qemu-oem/usr/lib/extension-release.d/extension-release.oem-qemu"), "SYSEXT_NAME=\"QEMU\"\n")
	write(filepath.Join(dir, "ext/usr/bin/ext"), "x")
	for _, args := range [][]string{
		{"sysext", "pack", "qemu-oem", "--oem", "qemu", "--flatcar-version", version},
		{"sysext", "pack", "ext", "--os", "flatcar"},
	} {
		if _, errOut, code := run(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, dir, "--image", img, "--output-dir", "out", "--vendor", "qemu_uefi", "--compress", "none", "ext:ext.raw"); code != 0 {
		t.Fatalf("qemu_uefi build with the packed OEM sysext: exit %d: %s", code, errOut)
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", filepath.Join(dir, "out/flatcar_production_qemu_uefi_image.img"), raw)
	var first, last int64
	for _, l := range strings.Split(testutil.Run(t, "sgdisk", "-i", "6", raw), "\n") {
		if _, err := fmt.Sscanf(l, "First sector: %d", &first); err == nil {
			continue
		}
		_, _ = fmt.Sscanf(l, "Last sector: %d", &last)
	}
	if first == 0 || last <= first {
		t.Fatalf("OEM partition not found in %s", raw)
	}
	oem := filepath.Join(t.TempDir(), "oem.img")
	testutil.ExtractSectors(t, raw, oem, uint64(first), uint64(last-first+1))
	restored := t.TempDir()
	testutil.Run(t, "btrfs", "restore", "-i", oem, restored)
	got, err := os.ReadFile(filepath.Join(restored, "sysext", "oem-qemu-"+version+".raw"))
	if err != nil {
		t.Fatalf("OEM sysext not installed: %v", err)
	}
	if want, _ := os.ReadFile(filepath.Join(dir, "oem-qemu.raw")); string(got) != string(want) {
		t.Error("installed OEM sysext differs from the packed one")
	}
	if _, err := os.Stat(filepath.Join(restored, "sysext", "active-oem-qemu")); err != nil {
		t.Errorf("no active-oem-qemu marker: %v", err)
	}
	rel, _ := os.ReadFile(filepath.Join(restored, "oem-release"))
	for _, want := range []string{"ID=qemu\n", "NAME=QEMU\n", "VERSION_ID=" + version + "\n"} {
		if !strings.Contains(string(rel), want) {
			t.Errorf("/oem-release lacks %q:\n%s", want, rel)
		}
	}
}
