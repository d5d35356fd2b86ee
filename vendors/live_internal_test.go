package vendors

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/testutil"
)

// The pxe vendor's kernel and Ignition initrd, as the vendor table names
// them.
var (
	pxeKernelName   = mustLookup("pxe").Extras["kernel"]
	pxeIgnitionName = mustLookup("pxe").Extras["ignition"]
)

func mustLookup(name string) Vendor {
	v, ok := Lookup(name)
	if !ok {
		panic("no vendor " + name)
	}
	return v
}

const liveIgnition = `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA live"]}]}}`

// TestLiveMediaIgnition builds pxe and iso with an Ignition config and
// kernel arguments, and reads them back with independent tools: the
// Ignition initrd with gzip and GNU cpio, the ISO's El Torito catalogue
// (BIOS and UEFI), system area (MBR and GPT) and files with xorriso, and
// the EFI boot image with mtools.
func TestLiveMediaIgnition(t *testing.T) {
	testutil.RequireTool(t, "btrfs", "xorriso", "cpio", "gzip", "grub-mkimage", "mdir", "mtype", "sgdisk")
	if _, err := findIsolinux(); err != nil && !isolinuxRequired() {
		t.Skip(err)
	}
	f := testFixture(t)
	vs, err := Parse([]string{"pxe", "iso"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"console=ttyS0,115200n8", "ignition.config.url=http://h/x?a=b&c=$d"}
	var logged bytes.Buffer
	arts, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, Compress: "none", Workers: 2,
		Ignition: []byte(liveIgnition), KernelArgs: args, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()

	// pxe: the extra initrd and the command line.
	var cmdline string
	names := map[string]bool{}
	for _, a := range arts {
		names[filepath.Base(a.Path)] = true
		if a.Vendor == "pxe" && a.Kind == "kernel" {
			cmdline = a.Cmdline
		}
	}
	if !names[pxeIgnitionName] || !names[pxeKernelName] || !names["flatcar_production_pxe_image.cpio.gz"] {
		t.Errorf("artifacts %v", names)
	}
	wantLine := "initrd=flatcar_production_pxe_image.cpio.gz,flatcar_production_pxe_ignition.cpio.gz flatcar.first_boot=1 flatcar.autologin " + strings.Join(args, " ")
	if cmdline != wantLine {
		t.Errorf("pxe command line\n%q\nwant\n%q", cmdline, wantLine)
	}
	if !strings.Contains(logged.String(), "level=INFO") || !strings.Contains(logged.String(), strconv.Quote("pxe: boot "+pxeKernelName+" with the kernel command line: "+wantLine)) {
		t.Errorf("the command line is not logged at info level:\n%s", logged.String())
	}
	checkIgnitionInitrd(t, filepath.Join(out, pxeIgnitionName), filepath.Join(work, "pxe"))

	// iso: boot catalogue, hybrid tables, configs, initrds, EFI image.
	iso := filepath.Join(out, "flatcar_production_iso_image.iso")
	report := testutil.Run(t, "xorriso", "-indev", iso, "-report_el_torito", "plain")
	for _, want := range []string{"El Torito boot img :   1  BIOS  y   none", "El Torito boot img :   2  UEFI  y   none",
		"El Torito img path :   1  /isolinux/isolinux.bin", "El Torito img path :   2  /" + isoEFIImage} {
		if !strings.Contains(report, want) {
			t.Errorf("El Torito report lacks %q:\n%s", want, report)
		}
	}
	area := testutil.Run(t, "xorriso", "-indev", iso, "-report_system_area", "plain")
	for _, want := range []string{"MBR partition table", "GPT partition name"} {
		if !strings.Contains(area, want) {
			t.Errorf("system area report lacks %q (not isohybrid for BIOS and UEFI sticks):\n%s", want, area)
		}
	}
	x := filepath.Join(work, "iso")
	testutil.Run(t, "osirrox", "-indev", iso, "-extract", "/", x)
	cfg, _ := os.ReadFile(filepath.Join(x, "isolinux/isolinux.cfg"))
	wantAppend := "  append initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz flatcar.first_boot=1 flatcar.autologin " + strings.Join(args, " ") + "\n"
	if !strings.Contains(string(cfg), wantAppend) {
		t.Errorf("isolinux.cfg:\n%s\nlacks\n%s", cfg, wantAppend)
	}
	grub, _ := os.ReadFile(filepath.Join(x, isoGrubCfgPath))
	for _, want := range []string{"linux /flatcar/vmlinuz flatcar.first_boot=1 flatcar.autologin 'console=ttyS0,115200n8' 'ignition.config.url=http://h/x?a=b&c=$d'\n",
		"initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n"} {
		if !strings.Contains(string(grub), want) {
			t.Errorf("grub.cfg:\n%s\nlacks %q", grub, want)
		}
	}
	checkIgnitionInitrd(t, filepath.Join(x, isoIgnitionPath), filepath.Join(work, "isoign"))
	efi := filepath.Join(x, isoEFIImage)
	cmd := exec.Command("mdir", "-b", "-i", efi, "::/EFI/BOOT")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "BOOTX64.EFI") {
		t.Errorf("EFI boot image: %v %s", err, b)
	}
	cmd = exec.Command("mtype", "-i", efi, "::/EFI/BOOT/BOOTX64.EFI")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if b, err := cmd.Output(); err != nil || !strings.HasPrefix(string(b), "MZ") || !strings.Contains(string(b), "configfile ($root)/"+isoGrubCfgPath) {
		t.Errorf("BOOTX64.EFI is not a PE image with the early config (%v)", err)
	}
}

// checkIgnitionInitrd unpacks an Ignition initrd with gzip and GNU cpio:
// it holds usr/share/oem/config.ign and its directories, nothing else.
func checkIgnitionInitrd(t *testing.T, initrd, dir string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	list := testutil.Run(t, "sh", "-c", `gzip -dc "$1" | cpio -t --quiet`, "sh", initrd)
	if want := "usr\nusr/share\nusr/share/oem\nusr/share/oem/config.ign\n"; list != want {
		t.Errorf("%s lists:\n%s\nwant:\n%s", initrd, list, want)
	}
	cmd := exec.Command("sh", "-c", `gzip -dc "$1" | cpio -idm --quiet`, "sh", initrd)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v %s", initrd, err, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ignitionInitrdPath)); string(b) != liveIgnition {
		t.Errorf("%s holds %q", initrd, b)
	}
}

// TestLiveMediaRefusals: kernel arguments that would not stay one
// argument in isolinux.cfg or grub.cfg, and an Ignition initrd name
// already taken in the output directory.
func TestLiveMediaRefusals(t *testing.T) {
	f := testFixture(t)
	vs, _ := Parse([]string{"pxe"})
	for _, a := range []string{"a b", "x'y", `x"y`, `a\b`, "", "a\nappend evil", "é"} {
		_, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: t.TempDir(), KernelArgs: []string{a}})
		if err == nil || !strings.Contains(err.Error(), "kernel argument") {
			t.Errorf("kernel argument %q: %v", a, err)
		}
	}
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, pxeIgnitionName), []byte("mine"), 0o644)
	_, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, Ignition: []byte(liveIgnition)})
	if err == nil || !strings.Contains(err.Error(), pxeIgnitionName) {
		t.Errorf("existing %s: %v", pxeIgnitionName, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, pxeIgnitionName)); string(b) != "mine" {
		t.Errorf("existing output overwritten: %q", b)
	}
}

// TestCustomizeISO customizes an iso vendor ISO built without a config:
// the result carries the Ignition initrd and the kernel arguments in both
// menus, keeps its BIOS and UEFI boot images and hybrid tables (xorriso
// reports), and customizing it again replaces the config without listing
// the initrd twice. Refusals: the input as output, an existing output, an
// ISO without an ISOLINUX menu; the input is never modified.
func TestCustomizeISO(t *testing.T) {
	testutil.RequireTool(t, "btrfs", "xorriso", "osirrox", "cpio", "gzip", "grub-mkimage")
	if _, err := findIsolinux(); err != nil && !isolinuxRequired() {
		t.Skip(err)
	}
	f := testFixture(t)
	vs, _ := Parse([]string{"iso"})
	dir := t.TempDir()
	if _, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: dir, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "flatcar_production_iso_image.iso")
	before := testutil.Run(t, "sha256sum", in)
	out := filepath.Join(dir, "live.iso")
	ctx := context.Background()
	if err := CustomizeISO(ctx, in, out, CustomizeOptions{Ignition: []byte(`{"ignition":{"version":"3.4.0"}}`),
		KernelArgs: []string{"console=ttyS0,115200n8"}}); err != nil {
		t.Fatal(err)
	}
	// Again, over the customized one: the new config replaces the old.
	again := filepath.Join(dir, "again.iso")
	if err := CustomizeISO(ctx, out, again, CustomizeOptions{Ignition: []byte(liveIgnition), KernelArgs: []string{"console=ttyS0,115200n8"}}); err != nil {
		t.Fatal(err)
	}
	report := testutil.Run(t, "xorriso", "-indev", again, "-report_el_torito", "plain")
	for _, want := range []string{"El Torito boot img :   1  BIOS  y   none", "El Torito boot img :   2  UEFI  y   none"} {
		if !strings.Contains(report, want) {
			t.Errorf("customized ISO lacks %q:\n%s", want, report)
		}
	}
	if area := testutil.Run(t, "xorriso", "-indev", again, "-report_system_area", "plain"); !strings.Contains(area, "GPT partition name") || !strings.Contains(area, "MBR partition table") {
		t.Errorf("customized ISO lost its hybrid tables:\n%s", area)
	}
	x := filepath.Join(t.TempDir(), "x")
	testutil.Run(t, "osirrox", "-indev", again, "-extract", "/", x)
	cfg, _ := os.ReadFile(filepath.Join(x, "isolinux/isolinux.cfg"))
	if want := "  append initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz flatcar.first_boot=1 flatcar.autologin console=ttyS0,115200n8\n"; !strings.Contains(string(cfg), want) {
		t.Errorf("isolinux.cfg:\n%s\nlacks %q", cfg, want)
	}
	grub, _ := os.ReadFile(filepath.Join(x, isoGrubCfgPath))
	for _, want := range []string{"linux /flatcar/vmlinuz flatcar.first_boot=1 flatcar.autologin 'console=ttyS0,115200n8'\n",
		"initrd /flatcar/cpio.gz /flatcar/ignition.cpio.gz\n"} {
		if !strings.Contains(string(grub), want) {
			t.Errorf("grub.cfg:\n%s\nlacks %q", grub, want)
		}
	}
	checkIgnitionInitrd(t, filepath.Join(x, isoIgnitionPath), t.TempDir())
	if after := testutil.Run(t, "sha256sum", in); after != before {
		t.Error("customizing modified the input ISO")
	}
	// The files a customization adds or rewrites carry the Epoch
	// (SOURCE_DATE_EPOCH), not the time of the run, and two runs a
	// second apart are byte-identical.
	stamped := func(name string) string {
		p := filepath.Join(dir, name)
		if err := CustomizeISO(ctx, in, p, CustomizeOptions{Ignition: []byte(liveIgnition), Epoch: 1700000000}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s1 := stamped("s1.iso")
	time.Sleep(1100 * time.Millisecond) // ISO 9660 times count seconds
	s2 := stamped("s2.iso")
	if testutil.FileSHA256(t, s1) != testutil.FileSHA256(t, s2) {
		t.Error("two customizations with the same Epoch differ")
	}
	ls := testutil.Run(t, "xorriso", "-indev", s1, "-lsl", "/flatcar/ignition.cpio.gz", "/isolinux/isolinux.cfg", "/"+isoGrubCfgPath)
	if n := strings.Count(ls, " Nov 14  2023 "); n != 3 {
		t.Errorf("%d of the 3 customized files carry the Epoch's date (Nov 14 2023):\n%s", n, ls)
	}

	// Refusals.
	plain := filepath.Join(t.TempDir(), "plain")
	os.MkdirAll(plain, 0o755)
	os.WriteFile(filepath.Join(plain, "readme"), []byte("no boot menu"), 0o644)
	noMenu := filepath.Join(dir, "plain.iso")
	testutil.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-o", noMenu, plain)
	// A menu that is a symlink out of the ISO (Rock Ridge) is no menu.
	link := filepath.Join(t.TempDir(), "link")
	os.MkdirAll(filepath.Join(link, "isolinux"), 0o755)
	os.Symlink("/etc/hostname", filepath.Join(link, "isolinux/isolinux.cfg"))
	linked := filepath.Join(dir, "link.iso")
	testutil.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", linked, link)
	ign := CustomizeOptions{Ignition: []byte(liveIgnition)}
	for _, c := range []struct {
		in, out, want string
		o             CustomizeOptions
	}{
		{in, in, "is the input ISO", ign},
		{in, out, "exists", ign},
		{noMenu, filepath.Join(dir, "x.iso"), "no /isolinux/isolinux.cfg", ign},
		{linked, filepath.Join(dir, "x.iso"), "no /isolinux/isolinux.cfg", ign},
		{in, filepath.Join(dir, "y.iso"), "nothing to customize", CustomizeOptions{}},
		{in, filepath.Join(dir, "z.iso"), "kernel argument", CustomizeOptions{KernelArgs: []string{"a b"}}},
	} {
		err := CustomizeISO(ctx, c.in, c.out, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v, want %q", c.in, c.out, err, c.want)
		}
	}
	for _, n := range []string{"x.iso", "y.iso", "z.iso"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("refused run left %s", n)
		}
	}
	if after := testutil.Run(t, "sha256sum", in); after != before {
		t.Error("a refused run modified the input ISO")
	}
}

// TestCustomizeMenus rewrites Flatcar's own ISOLINUX menu (no first boot
// argument) and menus without anything to change.
func TestCustomizeMenus(t *testing.T) {
	flatcarMenu := "default flatcar\nprompt 1\ntimeout 15\n\nlabel flatcar\n  menu default\n  kernel /flatcar/vmlinuz\n  append initrd=/flatcar/cpio.gz flatcar.autologin\n"
	got, err := customizeIsolinux(flatcarMenu, true, []string{"console=ttyS0"})
	want := strings.Replace(flatcarMenu, "flatcar.autologin", "flatcar.autologin", 1)
	want = strings.Replace(want, "append initrd=/flatcar/cpio.gz flatcar.autologin", "append initrd=/flatcar/cpio.gz,/flatcar/ignition.cpio.gz flatcar.autologin flatcar.first_boot=1 console=ttyS0", 1)
	if err != nil || got != want {
		t.Errorf("Flatcar menu:\n%s\nwant:\n%s (%v)", got, want, err)
	}
	if _, err := customizeIsolinux("default x\nlabel x\n  kernel /k\n", true, nil); err == nil {
		t.Error("a menu without an initrd accepted")
	}
	if _, err := customizeGrub("set timeout=1\n", true, nil); err == nil {
		t.Error("a GRUB menu without linux accepted")
	}
}
