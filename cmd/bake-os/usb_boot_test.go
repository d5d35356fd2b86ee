package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

const usbImageName = "flatcar_production_usb_image.bin"

// TestBootLiveUSB bakes the usb vendor with --ignition and --kernel-arg
// (console=ttyS0 among them) from an image whose ESP holds the Debian
// cloud kernel as flatcar/vmlinuz-a, and boots the raw image as a USB
// stick (qemu's usb-storage on an xHCI controller), by BIOS (SeaBIOS, the
// MBR code and GRUB's core image in the BIOS boot partition) and by UEFI
// (OVMF, EFI/BOOT/BOOTX64.EFI). As for the live ISO, the Debian kernel
// carries no initramfs of its own, so the test adds the busybox one the
// way a user edits the stick: the file copied onto the ESP with mtools
// and one more path on grub.cfg's initrd line. Its /init shows from
// inside the guest that GRUB loaded the stick's initrds: config.ign
// holds the config and usr.squashfs mounts with USR-A's os-release. It
// runs in the boot stage (BAKE_TEST_BOOT=1).
func TestBootLiveUSB(t *testing.T) {
	if os.Getenv("BAKE_TEST_BOOT") == "" {
		t.Skip("boot tests run in .ci/run's boot stage (BAKE_TEST_BOOT=1)")
	}
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "btrfs", "grub-mkimage", "mkfs.vfat", "mcopy", "mtype", "qemu-system-x86_64", "cpio", "busybox")
	dir := t.TempDir()
	img, ign, modDir := liveTestImage(t, dir, "usb")
	start := time.Now()
	stdout, stderr, code := run(t, dir, "--json", "--image", img, "--output-dir", "out", "--vendor", "usb", "--ignition", "config.ign",
		"--kernel-arg", "console=ttyS0", "--kernel-arg", "panic=-1", "--kernel-arg", "loglevel=4")
	if code != 0 {
		t.Fatalf("bake: exit %d: %s", code, stderr)
	}
	t.Logf("baked the USB image in %s", time.Since(start).Round(time.Second))
	listed := false
	for _, a := range jsonArtifacts(t, stdout) {
		listed = listed || a.Vendor == "usb" && a.Kind == "disk" && filepath.Base(a.Path) == usbImageName
	}
	if !listed {
		t.Errorf("--json does not list the usb disk:\n%s", stdout)
	}
	test := editUSBStick(t, filepath.Join(dir, "out", usbImageName), busyboxInitramfs(t, modDir, liveCheckScript))

	want := []string{
		fmt.Sprintf("BAKE-CHECK config.ign %d bytes", len(ign)),
		"BAKE-CHECK config.ign matches " + ign,
		"BAKE-CHECK usr.squashfs mounted ID=flatcar",
		// GRUB names the kernel it booted in BOOT_IMAGE; the quotes of
		// grub.cfg are gone.
		"BAKE-CHECK cmdline BOOT_IMAGE=/flatcar/vmlinuz flatcar.first_boot=1 flatcar.autologin console=ttyS0 panic=-1 loglevel=4",
		"BAKE-CHECK done",
	}
	t.Run("seabios", func(t *testing.T) {
		console := bootUSB(t, test, nil, "BIOS")
		wantConsole(t, console, want...)
	})
	t.Run("ovmf", func(t *testing.T) {
		console := bootUSB(t, test, ovmfArgs(t), "UEFI")
		wantConsole(t, console, append(want, "Welcome to GRUB")...)
	})
}

// editUSBStick copies the usb image and edits its ESP as a user would:
// the test initramfs copied in, and grub.cfg's initrd line loading it
// after the stick's own initrds.
func editUSBStick(t *testing.T, src, initramfs string) string {
	t.Helper()
	work := t.TempDir()
	out := filepath.Join(work, "stick.img")
	testutil.Run(t, "cp", "--sparse=always", src, out)
	d, err := gpt.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	esp, err := d.ByNumber(1)
	if err != nil {
		t.Fatal(err)
	}
	fat := fmt.Sprintf("%s@@%d", out, esp.Offset())
	mtools := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, append([]string{"-i", fat}, args...)...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
		return string(b)
	}
	cfg := mtools("mtype", "::/EFI/BOOT/grub.cfg")
	old := "initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n"
	if !strings.Contains(cfg, old) {
		t.Fatalf("grub.cfg lacks %q:\n%s", old, cfg)
	}
	edited := filepath.Join(work, "grub.cfg")
	os.WriteFile(edited, []byte(strings.Replace(cfg, old, "initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz /test/init.cpio\n", 1)), 0o644)
	mtools("mmd", "::/test")
	mtools("mcopy", initramfs, "::/test/init.cpio")
	mtools("mcopy", "-o", edited, "::/EFI/BOOT/grub.cfg")
	return out
}

// bootUSB boots img as a USB stick (usb-storage on xHCI) under TCG and
// returns the serial console; the guest powers off by itself.
func bootUSB(t *testing.T, img string, extra []string, firmware string) string {
	t.Helper()
	return qemuConsole(t, firmware+" boot of the USB image", append([]string{"-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,snapshot=on,file=" + img,
		"-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0"}, extra...)...)
}

// checkLiveUSB reads a usb vendor image back: sgdisk finds the GPT valid,
// the ESP's grub.cfg (mtools) loads the Ignition initrd and carries
// kernelArg on its linux line, and that initrd holds config (gzip, cpio).
func checkLiveUSB(t *testing.T, img, config, kernelArg string) {
	t.Helper()
	testutil.RequireTool(t, "sgdisk", "mtype", "mcopy")
	if v := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", img, v)
	}
	d, err := gpt.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	esp, err := d.ByNumber(1)
	if err != nil {
		t.Fatal(err)
	}
	fat := fmt.Sprintf("%s@@%d", img, esp.Offset())
	x := t.TempDir()
	cmd := exec.Command("mcopy", "-i", fat, "::/EFI/BOOT/grub.cfg", "::/flatcar/ignition.cpio.gz", x)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy from the ESP: %v\n%s", err, b)
	}
	cfg, _ := os.ReadFile(filepath.Join(x, "grub.cfg"))
	if !strings.Contains(string(cfg), "initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n") ||
		!strings.Contains(string(cfg), " flatcar.first_boot=1 flatcar.autologin "+kernelArg+"\n") {
		t.Errorf("grub.cfg:\n%s", cfg)
	}
	checkIgnitionCpio(t, filepath.Join(x, "ignition.cpio.gz"), config)
}

// TestUSBVendorRefusals: an invalid Ignition config and a kernel argument
// that would not stay one argument in grub.cfg are refused with the
// usb vendor before any output is written.
func TestUSBVendorRefusals(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.ign"), []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"rel"}]}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "flatcar_production_image.bin"), []byte("not checked before the config"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ignition", "bad.ign"}, "bad.ign"},
		{[]string{"--kernel-arg", "a b"}, `kernel argument "a b"`},
	} {
		args := append([]string{"--image", "flatcar_production_image.bin", "--output-dir", "out", "--vendor", "usb"}, c.args...)
		_, stderr, code := run(t, dir, args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", usbImageName)); err == nil {
		t.Error("a refused bake wrote the usb image")
	}
}
