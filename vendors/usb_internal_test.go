package vendors

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
)

// requireUSBGrub skips (or, with BAKE_TEST_REQUIRE_TOOLS=all or
// grub-pc, fails) when GRUB for BIOS or UEFI is not installed: they are
// module directories, not commands.
func requireUSBGrub(t *testing.T) {
	t.Helper()
	err := checkUSBGrub()
	testutil.Require(t, err == nil, "grub-pc", "the usb vendor needs GRUB's i386-pc and x86_64-efi modules: install grub-pc-bin and grub-efi-amd64-bin")
}

// usbRequired reports whether a missing GRUB fails the usb tests.
func usbRequired() bool { return testutil.Required("grub-pc") }

// TestUSBImage builds the usb vendor with an Ignition config and kernel
// arguments and judges it with independent tools: sgdisk (GPT valid, an
// EFI system and a BIOS boot partition), fsck.vfat (the ESP), mtools (its
// files, the grub.cfg text, the kernel and initrds), gzip and GNU cpio
// (the Ignition initrd holds config.ign), GRUB's own boot.img and
// diskboot.img (the MBR code and the core image's first sector, with the
// block list covering the core inside the BIOS boot partition). The
// image is sparse.
func TestUSBImage(t *testing.T) {
	testutil.RequireTool(t, "btrfs", "sgdisk", "fsck.vfat", "mdir", "mtype", "mcopy", "minfo", "cpio", "gzip", "grub-mkimage")
	requireUSBGrub(t)
	f := testFixture(t)
	vs, err := Parse([]string{"usb"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"console=ttyS0,115200n8", "ignition.config.url=http://h/x?a=b&c=$d"}
	arts, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, Workers: 2,
		Ignition: []byte(liveIgnition), KernelArgs: args})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(out, "flatcar_production_usb_image.bin")
	if len(arts) != 1 || arts[0].Path != img || arts[0].Kind != "disk" || arts[0].Vendor != "usb" {
		t.Fatalf("artifacts %+v", arts)
	}
	checkUSB(t, img, t.TempDir(), []byte(liveIgnition),
		"linux /flatcar/vmlinuz flatcar.first_boot=1 flatcar.autologin 'console=ttyS0,115200n8' 'ignition.config.url=http://h/x?a=b&c=$d'\n",
		"initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n")

	// Sparse: what is allocated is about what was written (tables, GRUB,
	// FAT, files), not the ESP's free space.
	st, _ := os.Stat(img)
	alloc := st.Sys().(*syscall.Stat_t).Blocks * 512
	t.Logf("usb image: %d MiB, %d KiB allocated", st.Size()>>20, alloc>>10)
	if st.Size() < 64<<20 || alloc > 8<<20 {
		t.Errorf("usb image %d bytes, %d allocated: want a sparse image", st.Size(), alloc)
	}
}

// checkUSB judges a usb vendor image; ignition nil means none carried,
// want are lines grub.cfg must hold.
func checkUSB(t *testing.T, img, work string, ignition []byte, want ...string) {
	t.Helper()
	testutil.RequireTool(t, "sgdisk", "fsck.vfat", "mdir", "mtype", "mcopy", "minfo", "gzip", "cpio", "grub-mkimage")
	if v := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", v)
	}
	p := testutil.Run(t, "sgdisk", "-p", img)
	for _, w := range []string{"EF00  " + usbESPLabel, "EF02  " + usbBIOSLabel} {
		if !strings.Contains(p, w) {
			t.Errorf("sgdisk -p lacks %q:\n%s", w, p)
		}
	}
	d, err := gpt.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	esp, err := d.ByNumber(usbESPNumber)
	if err != nil {
		t.Fatal(err)
	}
	bios, err := d.ByNumber(usbBIOSNumber)
	if err != nil {
		t.Fatal(err)
	}

	// The ESP, copied out, passes fsck.vfat.
	espImg := filepath.Join(work, "esp.img")
	src, _ := os.Open(img)
	defer src.Close()
	dst, _ := os.Create(espImg)
	dst.Truncate(esp.Size())
	if err := sparse.CopyRange(context.Background(), dst, src, 0, esp.Offset(), esp.Size(), nil); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	if out, err := exec.Command("fsck.vfat", "-n", espImg).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n: %v\n%s", err, out)
	}
	mt := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, append([]string{"-i", espImg}, args...)...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(b)
	}
	list := mt("mdir", "-/", "-b", "::/")
	files := []string{"::/EFI/BOOT/BOOTX64.EFI", "::/EFI/BOOT/grub.cfg", "::/flatcar/vmlinuz", "::/flatcar/cpio.gz"}
	if ignition != nil {
		files = append(files, "::/flatcar/ignition.cpio.gz")
	}
	for _, f := range files {
		if !strings.Contains(list, f+"\n") {
			t.Errorf("the ESP lacks %s:\n%s", f, list)
		}
	}
	if !strings.Contains(mt("minfo", "::"), `disk label="`+usbFATLabel+`"`) {
		t.Errorf("the ESP's label is not %s", usbFATLabel)
	}
	cfg := mt("mtype", "::/EFI/BOOT/grub.cfg")
	for _, w := range want {
		if !strings.Contains(cfg, w) {
			t.Errorf("grub.cfg:\n%s\nlacks %q", cfg, w)
		}
	}
	if !strings.Contains(cfg, "edit it") {
		t.Errorf("grub.cfg does not say it may be edited:\n%s", cfg)
	}
	if k := mt("mtype", "::/flatcar/vmlinuz"); k != fakeKernel {
		t.Errorf("kernel on the ESP = %q", k)
	}
	if efi := mt("mtype", "::/EFI/BOOT/BOOTX64.EFI"); !strings.HasPrefix(efi, "MZ") {
		t.Error("BOOTX64.EFI is not a PE image")
	}
	x := filepath.Join(work, "x")
	os.MkdirAll(x, 0o755)
	mt("mcopy", "::/flatcar/cpio.gz", filepath.Join(x, "cpio.gz"))
	checkBootInitrd(t, filepath.Join(x, "cpio.gz"), x)
	if ignition != nil {
		mt("mcopy", "::/flatcar/ignition.cpio.gz", filepath.Join(x, "ignition.cpio.gz"))
		checkIgnitionInitrd(t, filepath.Join(x, "ignition.cpio.gz"), filepath.Join(x, "ign"))
	}

	// BIOS: the MBR code is GRUB's boot.img pointing at the core image,
	// whose first sector is GRUB's diskboot.img with a block list
	// covering the rest of the core, inside the BIOS boot partition.
	raw, _ := os.ReadFile(img) // small test image
	checkGrubPC(t, raw, bios.FirstLBA, bios.LastLBA)
}

// checkGrubPC judges the BIOS boot path of disk against grub-pc-bin's
// own files and a core image grub-mkimage builds here.
func checkGrubPC(t *testing.T, disk []byte, first, last uint64) {
	t.Helper()
	for _, p := range grubPCProblems(t, disk, first, last) {
		t.Error(p)
	}
}

// grubPCProblems lists what is wrong with the BIOS boot path of disk: the
// MBR code must be GRUB's boot.img (patched fields aside) loading the
// core from the BIOS boot partition's first sector (first-last); that
// sector must be diskboot.img with one block list entry covering exactly
// the rest of the core, and the sectors must hold what grub-mkimage makes
// for the prefix (,gpt1)/EFI/BOOT.
func grubPCProblems(t *testing.T, disk []byte, first, last uint64) []string {
	t.Helper()
	boot, err := os.ReadFile(filepath.Join(grubPCDir, "boot.img"))
	if err != nil {
		t.Fatal(err)
	}
	diskboot, err := os.ReadFile(filepath.Join(grubPCDir, "diskboot.img"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "core.img")
	testutil.Run(t, "grub-mkimage", append([]string{"-O", "i386-pc", "-d", grubPCDir, "-o", p, "-p", "(,gpt1)/EFI/BOOT"}, grubPCModules...)...)
	want, _ := os.ReadFile(p)

	var bad []string
	mbr := disk[:512]
	if mbr[510] != 0x55 || mbr[511] != 0xaa || mbr[0x1be+4] != 0xee {
		bad = append(bad, fmt.Sprintf("no protective MBR: signature % x, type %#x", mbr[510:], mbr[0x1be+4]))
	}
	// boot.img's code past the patched fields (from 0x68 to the disk
	// signature) is unchanged.
	if !bytes.Equal(mbr[0x68:0x1b8], boot[0x68:0x1b8]) || !bytes.Equal(mbr[:3], boot[:3]) {
		bad = append(bad, "the MBR code is not GRUB's boot.img")
	}
	if mbr[0x64] != 0xff || mbr[0x66] != 0x90 || mbr[0x67] != 0x90 {
		bad = append(bad, fmt.Sprintf("boot drive %#x, drive check % x", mbr[0x64], mbr[0x66:0x68]))
	}
	core := binary.LittleEndian.Uint64(mbr[0x5c:])
	if core != first {
		return append(bad, fmt.Sprintf("boot.img loads the core from LBA %d, the BIOS boot partition starts at %d", core, first))
	}
	sec := disk[core*512 : core*512+512]
	if !bytes.Equal(sec[:0x1e8], diskboot[:0x1e8]) {
		bad = append(bad, "the core image does not start with GRUB's diskboot.img")
	}
	start := binary.LittleEndian.Uint64(sec[0x1f4:])
	n := uint64(binary.LittleEndian.Uint16(sec[0x1fc:]))
	seg := binary.LittleEndian.Uint16(sec[0x1fe:])
	sectors := uint64(len(want)+511) / 512
	if start != core+1 || n != sectors-1 || start+n-1 > last || seg != 0x820 || !sparse.IsZero(sec[0x1e8:0x1f4]) {
		return append(bad, fmt.Sprintf("block list start %d, %d sectors, segment %#x, terminator % x (BIOS boot partition %d-%d, core %d sectors)",
			start, n, seg, sec[0x1e8:0x1f4], first, last, sectors))
	}
	if got := disk[start*512 : start*512+uint64(len(want))-512]; !bytes.Equal(got, want[512:]) {
		bad = append(bad, "the sectors the block list names do not hold the core grub-mkimage makes")
	}
	return bad
}

// TestGrubPCJudge: the BIOS check sees planted defects: the MBR loading
// the core from elsewhere, a block list one sector short, a byte of the
// core changed, the drive check left in.
func TestGrubPCJudge(t *testing.T) {
	testutil.RequireTool(t, "grub-mkimage")
	requireUSBGrub(t)
	boot, _ := os.ReadFile(filepath.Join(grubPCDir, "boot.img"))
	dir := t.TempDir()
	core, err := grubPCCore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	mbr, core, err := grubPCSetup(boot, core, usbBIOSBootLBA)
	if err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, (usbBIOSBootLBA+usbBIOSBootSecs)*512)
	copy(disk, mbr)
	disk[510], disk[511], disk[0x1be+4] = 0x55, 0xaa, 0xee
	copy(disk[usbBIOSBootLBA*512:], core)
	last := uint64(usbBIOSBootLBA + usbBIOSBootSecs - 1)
	if p := grubPCProblems(t, disk, usbBIOSBootLBA, last); len(p) != 0 {
		t.Fatalf("the unplanted disk: %v", p)
	}
	for name, plant := range map[string]func(d []byte){
		"core elsewhere": func(d []byte) { binary.LittleEndian.PutUint64(d[0x5c:], usbBIOSBootLBA+1) },
		"short list":     func(d []byte) { d[usbBIOSBootLBA*512+0x1fc]-- },
		"core byte":      func(d []byte) { d[(usbBIOSBootLBA+5)*512+7] ^= 1 },
		"drive check":    func(d []byte) { copy(d[0x66:0x68], boot[0x66:0x68]) },
	} {
		d := bytes.Clone(disk)
		plant(d)
		if p := grubPCProblems(t, d, usbBIOSBootLBA, last); len(p) == 0 {
			t.Errorf("%s: not seen", name)
		}
	}
}

// TestGrubPCSetupRefusals: a boot sector without a signature and a core
// image without diskboot.img's block list are refused, not patched.
func TestGrubPCSetupRefusals(t *testing.T) {
	boot := make([]byte, 512)
	boot[510], boot[511] = 0x55, 0xaa
	core := make([]byte, 4096)
	binary.LittleEndian.PutUint16(core[510:], grubCoreSegment)
	if _, _, err := grubPCSetup(boot, core, 2048); err != nil {
		t.Fatalf("a well-formed pair refused: %v", err)
	}
	noSig := bytes.Clone(boot)
	noSig[511] = 0
	if _, _, err := grubPCSetup(noSig, core, 2048); err == nil || !strings.Contains(err.Error(), "boot sector") {
		t.Errorf("boot.img without 55aa: %v", err)
	}
	noList := bytes.Clone(core)
	noList[510] = 0
	if _, _, err := grubPCSetup(boot, noList, 2048); err == nil || !strings.Contains(err.Error(), "block list") {
		t.Errorf("core without block list: %v", err)
	}
	if _, _, err := grubPCSetup(boot, core[:600], 2048); err == nil {
		t.Error("a one-sector core accepted")
	}
	mbr, out, _ := grubPCSetup(boot, core[:4000], 2048)
	if len(mbr) != 440 || len(out) != 4096 || binary.LittleEndian.Uint16(out[508:]) != 7 || binary.LittleEndian.Uint64(out[500:]) != 2049 {
		t.Errorf("setup: mbr %d bytes, core %d bytes, block list % x", len(mbr), len(out), out[500:512])
	}
}

// TestUSBRefusals: a bad kernel argument and an existing output are
// refused before anything is written; the existing file is kept.
func TestUSBRefusals(t *testing.T) {
	requireUSBGrub(t)
	f := testFixture(t)
	vs, _ := Parse([]string{"usb"})
	out := t.TempDir()
	if _, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, KernelArgs: []string{"a b"}}); err == nil || !strings.Contains(err.Error(), "kernel argument") {
		t.Errorf("kernel argument with a space: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a refused build left %v", ents)
	}
	p := filepath.Join(out, "flatcar_production_usb_image.bin")
	os.WriteFile(p, []byte("mine"), 0o644)
	if _, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out}); err == nil || !strings.Contains(err.Error(), "flatcar_production_usb_image.bin") {
		t.Errorf("existing output: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "mine" {
		t.Errorf("existing output overwritten: %q", b)
	}
	old := grubPCDir
	grubPCDir = t.TempDir()
	defer func() { grubPCDir = old }()
	if _, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "install grub-pc-bin") {
		t.Errorf("no GRUB for BIOS: %v", err)
	}
}
