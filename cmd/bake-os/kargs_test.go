package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestKernelArgsWithVendor: --vendor qemu_uefi writes its own OEM
// grub.cfg after the bake; the disk keeps the vendor's oem_id and
// flatcar.autologin, the --kernel-arg given now and the one an earlier
// bake added (bake-os's line in the input's grub.cfg), without the one
// removed. Read back from the qcow2 with qemu-img and btrfs restore.
func TestKernelArgsWithVendor(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "qemu-img", "btrfs", "dd")
	ctx := context.Background()
	dir := t.TempDir()
	earlier := "# Kernel arguments added by bake-os (--kernel-arg)\nset linux_append=\"$linux_append mitigations=off net.ifnames=0\"\n"
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{OEMFiles: map[string]string{"grub.cfg": earlier}}); err != nil {
		t.Fatal(err)
	}
	oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\n"
	if err := testimage.Sysext(ctx, filepath.Join(dir, "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	stdout, stderr, code := run(t, dir, "--image", "flatcar_production_image.bin", "--output-dir", "out", "--vendor", "qemu_uefi",
		"--kernel-arg", "console=ttyS1", "--autologin", "--kernel-arg-remove", "net.ifnames", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		KernelArgs struct{ Effective []string } `json:"kernel_args"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", filepath.Join(dir, "out", "flatcar_production_qemu_uefi_image.img"), raw)
	oem := filepath.Join(t.TempDir(), "oem.img")
	testutil.ExtractSectors(t, raw, oem, 10493952, 2097152)
	restored := t.TempDir()
	testutil.Run(t, "btrfs", "restore", oem, restored)
	grub, err := os.ReadFile(filepath.Join(restored, "grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"set oem_id=\"qemu\"\n", "set linux_append=\"flatcar.autologin\"\n", "set linux_append=\"$linux_append mitigations=off console=ttyS1\"\n"} {
		if !strings.Contains(string(grub), want) {
			t.Errorf("vendor grub.cfg lacks %q:\n%s", want, grub)
		}
	}
	if strings.Contains(string(grub), "net.ifnames") || strings.Count(string(grub), "flatcar.autologin") != 1 {
		t.Errorf("vendor grub.cfg:\n%s", grub)
	}
	if strings.Join(res.KernelArgs.Effective, " ") != "mitigations=off console=ttyS1 flatcar.autologin" {
		t.Errorf("--json kernel_args %+v", res.KernelArgs)
	}
}

// TestProvisionFlagRefusals: a kernel argument the grub.cfg line cannot
// carry is a usage error naming it; --sysupdate without a sysupdate
// config a failure; nothing is written.
func TestProvisionFlagRefusals(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs")
	ctx := context.Background()
	dir := t.TempDir()
	if err := testimage.Generate(ctx, filepath.Join(dir, "flatcar_production_image.bin"), testimage.Options{}); err != nil {
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
		{[]string{"--kernel-arg", "a;reboot"}, exitUsage, `"a;reboot"`},
		{[]string{"--kernel-arg", "console=ttyS0 quiet"}, exitUsage, `"console=ttyS0 quiet"`},
		{[]string{"--kernel-arg-remove", `x"`}, exitUsage, `x\"`},
		{[]string{"--sysupdate", "ext:ext.raw"}, exitFailure, "no baked sysext has a sysupdate config"},
	} {
		args := append([]string{"--image", "flatcar_production_image.bin", "--output-dir", "out"}, c.args...)
		_, stderr, code := run(t, dir, args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d: %s", c.args, code, stderr)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, "out")); len(ents) != 0 {
			t.Errorf("%v: left %d entries in the output dir", c.args, len(ents))
		}
	}

	// With a sysupdate config: --json lists the units written and the
	// reset keep paths; the log says how to keep them.
	conf := "[Source]\nType=url-file\nPath=https://example.invalid/\nMatchPattern=up-@v.raw\n\n[Target]\nType=regular-file\nPath=/opt/extensions/up\nCurrentSymlink=/etc/extensions/up.raw\n"
	os.WriteFile(filepath.Join(dir, "up.conf"), []byte(conf), 0o644)
	if err := testimage.Sysext(ctx, filepath.Join(dir, "up-1.raw"), "up", "ID=_any\n", nil); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, dir, "--image", "flatcar_production_image.bin", "--output-dir", "out", "--sysupdate", "--kernel-arg", "quiet", "--json", "up:up-1.raw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Written        []struct{ Partition, Path, Kind string }
		ResetKeepPaths []string `json:"reset_keep_paths"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	kinds, inROOT := map[string]string{}, 0
	for _, w := range res.Written {
		kinds[w.Partition+":"+w.Path] = w.Kind
		if w.Partition == "ROOT" {
			inROOT++
		}
	}
	if kinds["ROOT:/etc/systemd/system/timers.target.wants/systemd-sysupdate.timer"] != "sysupdate-timer-link" ||
		kinds["ROOT:/etc/systemd/system/systemd-sysupdate.service.d/up.conf"] != "sysupdate-dropin" ||
		kinds["OEM:/grub.cfg"] != "kernel-args" || len(res.ResetKeepPaths) != inROOT {
		t.Errorf("--json written %+v, reset_keep_paths %v", res.Written, res.ResetKeepPaths)
	}
	if !strings.Contains(stderr, "flatcar-reset --keep-paths '/opt/extensions/up/up-1\\.raw' '/etc/extensions/up\\.raw'") {
		t.Errorf("no flatcar-reset line: %s", stderr)
	}
	// inspect shows the effective kernel arguments.
	stdout, stderr, code = run(t, dir, "inspect", "out/flatcar_production_image.bin")
	if code != 0 || !strings.Contains(stdout, "Kernel arguments (OEM /grub.cfg linux_append):\n  quiet\n") {
		t.Errorf("inspect: exit %d\n%s%s", code, stdout, stderr)
	}
}
