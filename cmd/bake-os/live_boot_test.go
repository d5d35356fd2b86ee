package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestBootLiveISO bakes the iso vendor with --ignition from an image
// whose ESP holds the Debian cloud kernel as flatcar/vmlinuz-a, and boots
// the ISO from QEMU's CD drive, by BIOS (SeaBIOS, ISOLINUX) and by UEFI
// (OVMF, the El Torito EFI image's GRUB). A real Flatcar kernel carries
// its initramfs (the one with /init) inside itself; the Debian kernel does
// not, so the test adds a busybox initramfs as one more initrd after the
// ISO's own (the only change to the baked ISO: the two boot menus' initrd
// lists, remastered with xorriso). Its /init shows from inside the guest
// that the ISO's initrds were unpacked: /usr/share/oem/config.ign holds
// the config, and usr.squashfs mounts with USR-A's os-release. The kernel
// reads console=ttyS0 from kernel arguments added with "bake-os iso
// customize". It runs in the boot stage (BAKE_TEST_BOOT=1).
func TestBootLiveISO(t *testing.T) {
	if os.Getenv("BAKE_TEST_BOOT") == "" {
		t.Skip("boot tests run in .ci/run's boot stage (BAKE_TEST_BOOT=1)")
	}
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "btrfs", "xorriso", "grub-mkimage", "qemu-system-x86_64", "cpio", "busybox")
	dir := t.TempDir()
	img, ign, modDir := liveTestImage(t, dir, "live")
	start := time.Now()
	if _, stderr, code := run(t, dir, "--image", img, "--output-dir", "out", "--vendor", "iso", "--ignition", "config.ign"); code != 0 {
		t.Fatalf("bake: exit %d: %s", code, stderr)
	}
	t.Logf("baked the ISO in %s", time.Since(start).Round(time.Second))
	// The serial console comes from iso customize's kernel arguments.
	if _, stderr, code := run(t, dir, "iso", "customize", "out/flatcar_production_iso_image.iso", "--kernel-arg", "console=ttyS0",
		"--kernel-arg", "panic=-1", "--kernel-arg", "loglevel=4", "-o", "serial.iso"); code != 0 {
		t.Fatalf("iso customize: exit %d: %s", code, stderr)
	}
	test := remasterWithInit(t, filepath.Join(dir, "serial.iso"), busyboxInitramfs(t, modDir, liveCheckScript))

	want := []string{
		fmt.Sprintf("BAKE-CHECK config.ign %d bytes", len(ign)),
		"BAKE-CHECK config.ign matches " + ign,
		"BAKE-CHECK usr.squashfs mounted ID=flatcar",
		"BAKE-CHECK done",
	}
	t.Run("seabios", func(t *testing.T) {
		console := bootISO(t, test, nil, "BIOS")
		// ISOLINUX passes its initrd= argument on to the kernel.
		wantConsole(t, console, append(want, "BAKE-CHECK cmdline BOOT_IMAGE=/flatcar/vmlinuz initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz,/test/init.cpio flatcar.first_boot=1 flatcar.autologin console=ttyS0")...)
	})
	t.Run("ovmf", func(t *testing.T) {
		console := bootISO(t, test, ovmfArgs(t), "UEFI")
		// GRUB names the kernel it booted in BOOT_IMAGE.
		wantConsole(t, console, append(want, "Welcome to GRUB", "BAKE-CHECK cmdline BOOT_IMAGE=/flatcar/vmlinuz flatcar.first_boot=1 flatcar.autologin console=ttyS0")...)
	})
}

// liveCheckScript is /init of the test initramfs on the live ISO.
const liveCheckScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m 2>/dev/null; done
if [ -f /usr/share/oem/config.ign ]; then
  echo "BAKE-CHECK config.ign $(wc -c < /usr/share/oem/config.ign) bytes"
  echo "BAKE-CHECK config.ign matches $(cat /usr/share/oem/config.ign)"
fi
mkdir -p /sysusr
mount -t squashfs -o loop,ro /usr.squashfs /sysusr && echo "BAKE-CHECK usr.squashfs mounted $(grep ^ID= /sysusr/lib/os-release)"
echo "BAKE-CHECK cmdline $(cat /proc/cmdline)"
echo "BAKE-CHECK done"
reboot -f
`

// remasterWithInit writes a copy of iso whose two boot menus load the
// test initramfs after the ISO's own initrds, keeping the El Torito boot
// images and the hybrid tables (xorriso -boot_image any replay).
func remasterWithInit(t *testing.T, iso, initramfs string) string {
	t.Helper()
	work := t.TempDir()
	testutil.Run(t, "osirrox", "-indev", iso, "-extract", "/isolinux/isolinux.cfg", filepath.Join(work, "isolinux.cfg"),
		"-extract", "/EFI/BOOT/grub.cfg", filepath.Join(work, "grub.cfg"))
	edit := func(name, old, new string) {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil || !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%s lacks %q (%v):\n%s", name, old, err, b)
		}
		os.WriteFile(filepath.Join(work, name), bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
	}
	edit("isolinux.cfg", "initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz ", "initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz,/test/init.cpio ")
	edit("grub.cfg", "initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n", "initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz /test/init.cpio\n")
	out := filepath.Join(work, "test.iso")
	testutil.Run(t, "xorriso", "-indev", iso, "-outdev", out, "-boot_image", "any", "replay",
		"-map", filepath.Join(work, "isolinux.cfg"), "/isolinux/isolinux.cfg",
		"-map", filepath.Join(work, "grub.cfg"), "/EFI/BOOT/grub.cfg",
		"-map", initramfs, "/test/init.cpio")
	return out
}

// bootISO boots iso from a CD drive under TCG and returns the serial
// console; the guest powers off by itself.
func bootISO(t *testing.T, iso string, extra []string, firmware string) string {
	t.Helper()
	return qemuConsole(t, firmware+" boot of the ISO", append([]string{"-cdrom", iso, "-boot", "d"}, extra...)...)
}

// qemuConsole runs an x86-64 guest under TCG (1 GiB, 2 CPUs, serial
// console on stdio, no reboot) with args added, and returns the console,
// copied to the test log line by line. The guest must power off by
// itself within 2 minutes; what names the boot in the log.
func qemuConsole(t *testing.T, what string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"-accel", "tcg", "-m", "1024", "-smp", "2", "-display", "none", "-serial", "stdio",
		"-monitor", "none", "-no-reboot"}, args...)
	var console bytes.Buffer
	w := &lineLogger{t: t, buf: &console}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s took %s", what, time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		t.Fatalf("%s: the guest did not power off within 2 minutes", what)
	}
	if err != nil {
		t.Fatalf("%s: qemu: %v", what, err)
	}
	return console.String()
}

// ovmfArgs are the QEMU arguments booting by UEFI: q35 with OVMF's code
// and a private copy of its variables.
func ovmfArgs(t *testing.T) []string {
	t.Helper()
	code, vars := "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
	_, errC := os.Stat(code)
	_, errV := os.Stat(vars)
	testutil.Require(t, errC == nil && errV == nil, "ovmf", "UEFI firmware "+code+" and "+vars+": install ovmf")
	v := filepath.Join(t.TempDir(), "vars.fd")
	copyTo(t, vars, v, 0o644)
	return []string{"-machine", "q35",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + v}
}

// liveTestImage generates a Flatcar-layout image in dir whose ESP holds
// the Debian cloud kernel as flatcar/vmlinuz-a, and dir/config.ign, an
// Ignition config with an ssh key named who. It returns the image, the
// config's text and the kernel's module directory.
func liveTestImage(t *testing.T, dir, who string) (img, ign, modDir string) {
	t.Helper()
	kernel, modDir := debianKernel(t)
	esp := filepath.Join(dir, "esp")
	os.MkdirAll(filepath.Join(esp, "flatcar"), 0o755)
	copyTo(t, kernel, filepath.Join(esp, "flatcar", "vmlinuz-a"), 0o644)
	img = filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(context.Background(), img, testimage.Options{ESPTree: esp}); err != nil {
		t.Fatal(err)
	}
	ign = `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA ` + who + `"]}]}}`
	os.WriteFile(filepath.Join(dir, "config.ign"), []byte(ign), 0o644)
	return img, ign, modDir
}

// wantConsole fails the test for each line of want the console lacks.
func wantConsole(t *testing.T, console string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(console, w) {
			t.Errorf("the console lacks %q", w)
		}
	}
}

// checkLiveISO reads a live ISO back with xorriso: its BIOS (and, with
// uefi, UEFI) El Torito images, the ISOLINUX (and GRUB) entries loading
// the Ignition initrd, and that initrd holding config.ign (gzip, cpio).
func checkLiveISO(t *testing.T, iso, config string, uefi bool) {
	t.Helper()
	report := testutil.Run(t, "xorriso", "-indev", iso, "-report_el_torito", "plain")
	want := []string{"El Torito boot img :   1  BIOS"}
	if uefi {
		want = append(want, "El Torito boot img :   2  UEFI")
	}
	for _, want := range want {
		if !strings.Contains(report, want) {
			t.Errorf("ISO lacks %q:\n%s", want, report)
		}
	}
	x := t.TempDir()
	testutil.Run(t, "osirrox", "-indev", iso, "-extract", "/", x)
	cfg, _ := os.ReadFile(filepath.Join(x, "isolinux/isolinux.cfg"))
	if !strings.Contains(string(cfg), "append initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz ") || !strings.Contains(string(cfg), " flatcar.first_boot=1") {
		t.Errorf("isolinux.cfg:\n%s", cfg)
	}
	if grub, _ := os.ReadFile(filepath.Join(x, "EFI/BOOT/grub.cfg")); uefi && !strings.Contains(string(grub), "initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n") {
		t.Errorf("grub.cfg:\n%s", grub)
	}
	checkIgnitionCpio(t, filepath.Join(x, "flatcar/ignition.cpio.gz"), config)
}

// checkLivePXE checks the pxe outputs of a --json bake: the Ignition
// initrd and the kernel command line on the kernel's artifact.
func checkLivePXE(t *testing.T, dir, stdout string) {
	t.Helper()
	cmdline := artifactOf(jsonArtifacts(t, stdout), "kernel").Cmdline
	if want := "initrd=flatcar_production_pxe_image.cpio.gz,flatcar_production_pxe_ignition.cpio.gz flatcar.first_boot=1"; !strings.HasPrefix(cmdline, want) {
		t.Errorf("kernel command line %q, want it to start with %q", cmdline, want)
	}
	checkIgnitionCpio(t, filepath.Join(dir, "flatcar_production_pxe_ignition.cpio.gz"), filepath.Join(dir, "config.ign"))
}

// checkIgnitionCpio unpacks an Ignition initrd with gzip and GNU cpio and
// compares usr/share/oem/config.ign with the config given.
func checkIgnitionCpio(t *testing.T, initrd, config string) {
	t.Helper()
	if l := testutil.Run(t, "sh", "-c", `gzip -dc "$1" | cpio -t --quiet`, "sh", initrd); l != "usr\nusr/share\nusr/share/oem\nusr/share/oem/config.ign\n" {
		t.Errorf("%s lists:\n%s", initrd, l)
	}
	x := t.TempDir()
	cmd := exec.Command("sh", "-c", `gzip -dc "$1" | cpio -idm --quiet`, "sh", initrd)
	cmd.Dir = x
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v %s", initrd, err, b)
	}
	got, err := os.ReadFile(filepath.Join(x, "usr/share/oem/config.ign"))
	want, _ := os.ReadFile(config)
	if err != nil || len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("config.ign in %s = %q, %v; want %q", initrd, got, err, want)
	}
}

// readmeISO is the Flatcar live ISO the README customizes; a bake's iso
// output has the same name, so the sandbox holds it only when named.
const readmeISO = "flatcar_production_iso_image.iso"

// readmeFlatcarISO writes an ISO laid out like Flatcar's release ISO:
// ISOLINUX only (BIOS), its menu appending
// "initrd=/flatcar/cpio.gz flatcar.autologin", a placeholder kernel and
// initrd.
func readmeFlatcarISO(t *testing.T, dst string) {
	t.Helper()
	testutil.RequireTool(t, "xorriso")
	root := t.TempDir()
	for _, d := range []string{"flatcar", "isolinux"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "flatcar/vmlinuz"), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(root, "flatcar/cpio.gz"), []byte("initrd"), 0o644)
	os.WriteFile(filepath.Join(root, "isolinux/isolinux.cfg"), []byte("default flatcar\nprompt 1\ntimeout 15\n\nlabel flatcar\n  menu default\n  kernel /flatcar/vmlinuz\n  append initrd=/flatcar/cpio.gz flatcar.autologin\n"), 0o644)
	bin, ldlinux := "/usr/lib/ISOLINUX/isolinux.bin", "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	_, e1 := os.Stat(bin)
	_, e2 := os.Stat(ldlinux)
	testutil.Require(t, e1 == nil && e2 == nil, "isolinux", "the README's ISO boots with ISOLINUX: install isolinux and syslinux-common")
	copyTo(t, bin, filepath.Join(root, "isolinux/isolinux.bin"), 0o644)
	copyTo(t, ldlinux, filepath.Join(root, "isolinux/ldlinux.c32"), 0o644)
	testutil.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "FLATCAR_BOOT", "-b", "isolinux/isolinux.bin",
		"-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "-o", dst, root)
}

// TestISOCustomizeUsage: missing -o or nothing to add is a usage error
// (exit 2); a bad kernel argument or config is refused before any output.
func TestISOCustomizeUsage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.iso"), []byte("not an ISO"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.ign"), []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"rel"}]}}`), 0o644)
	for _, args := range [][]string{
		{"iso", "customize", "in.iso", "--ignition", "bad.ign"},
		{"iso", "customize", "in.iso", "-o", "out.iso"},
		{"iso", "customize", "-o", "out.iso", "--kernel-arg", "a"},
	} {
		if _, stderr, code := run(t, dir, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"iso", "customize", "in.iso", "--kernel-arg", "a b", "-o", "out.iso"}, `kernel argument "a b"`},
		{[]string{"iso", "customize", "in.iso", "--ignition", "bad.ign", "-o", "out.iso"}, "bad.ign"},
	} {
		_, stderr, code := run(t, dir, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.iso")); err == nil {
		t.Error("a refused customize wrote out.iso")
	}
}

// TestBootLivePXE bakes the pxe vendor with --ignition from an image whose
// ESP holds the Debian cloud kernel, and boots the baked kernel under
// QEMU with the initrds a PXE loader would pass, concatenated in the
// printed order (the kernel unpacks each in turn), plus the busybox test
// initramfs (a Flatcar kernel carries its own). The guest shows the
// config at /usr/share/oem/config.ign and usr.squashfs mounting; the
// kernel command line is the one --json printed, plus console=ttyS0.
func TestBootLivePXE(t *testing.T) {
	if os.Getenv("BAKE_TEST_BOOT") == "" {
		t.Skip("boot tests run in .ci/run's boot stage (BAKE_TEST_BOOT=1)")
	}
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "btrfs", "qemu-system-x86_64", "cpio", "busybox")
	dir := t.TempDir()
	img, ign, modDir := liveTestImage(t, dir, "pxe")
	stdout, stderr, code := run(t, dir, "--json", "--image", img, "--output-dir", "out", "--vendor", "pxe", "--ignition", "config.ign")
	if code != 0 {
		t.Fatalf("bake: exit %d: %s", code, stderr)
	}
	line := artifactOf(jsonArtifacts(t, stdout), "kernel").Cmdline
	initrdArg, rest, _ := strings.Cut(line, " ")
	names, ok := strings.CutPrefix(initrdArg, "initrd=")
	if !ok {
		t.Fatalf("command line %q does not start with initrd=", line)
	}
	// What the loader does: each initrd of the list, in order, then ours,
	// each starting on a 4-byte boundary (iPXE, pxelinux and GRUB pad
	// them so; the kernel looks for the next archive's magic there).
	var all []byte
	for _, n := range append(strings.Split(names, ","), "") {
		for len(all)%4 != 0 {
			all = append(all, 0)
		}
		p := filepath.Join(dir, "out", n)
		if n == "" {
			p = busyboxInitramfs(t, modDir, liveCheckScript)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	initrd := filepath.Join(dir, "initrds")
	os.WriteFile(initrd, all, 0o644)

	console := qemuConsole(t, "PXE-style boot", "-kernel", filepath.Join(dir, "out", "flatcar_production_pxe.vmlinuz"),
		"-initrd", initrd, "-append", rest+" console=ttyS0 panic=-1 loglevel=4")
	wantConsole(t, console,
		"BAKE-CHECK config.ign matches "+ign,
		"BAKE-CHECK usr.squashfs mounted ID=flatcar",
		"BAKE-CHECK cmdline flatcar.first_boot=1 flatcar.autologin console=ttyS0",
		"BAKE-CHECK done")
}

// jsonArtifact is one entry of a --json bake's "artifacts".
type jsonArtifact struct{ Vendor, Kind, Path, Cmdline string }

// jsonArtifacts decodes the artifacts of a --json bake's stdout.
func jsonArtifacts(t *testing.T, stdout string) []jsonArtifact {
	t.Helper()
	var res struct{ Artifacts []jsonArtifact }
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	return res.Artifacts
}

// artifactOf returns the last artifact of kind (zero if none).
func artifactOf(arts []jsonArtifact, kind string) jsonArtifact {
	var found jsonArtifact
	for _, a := range arts {
		if a.Kind == kind {
			found = a
		}
	}
	return found
}
