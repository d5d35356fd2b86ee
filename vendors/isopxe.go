package vendors

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/cpio"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/sparse"
)

// ISO and PXE boot Flatcar without a disk: the kernel from the ESP
// (flatcar/vmlinuz-a) and an initrd that is a gzip'd newc cpio holding
// usr.squashfs, a squashfs of USR-A's /usr, which Flatcar's initramfs
// mounts as /usr.

const (
	espKernel      = "flatcar/vmlinuz-a"
	usrSquashName  = "usr.squashfs"
	isoKernelPath  = "flatcar/vmlinuz"
	isoInitrdPath  = "flatcar/cpio.gz"
	isoVolumeLabel = "FLATCAR_BOOT"

	// The Ignition initrd (docs/provisioning.md): where Flatcar's initrd
	// finds a config embedded in the initramfs and its path on the ISO.
	ignitionInitrdPath = "usr/share/oem/config.ign"
	isoIgnitionPath    = "flatcar/ignition.cpio.gz"
	isoGrubCfgPath     = "EFI/BOOT/grub.cfg"
	isoEFIImage        = "EFI/efiboot.img"
)

// liveTools are the tools the /usr initrd of live media needs.
var liveTools = []string{"btrfs", "mksquashfs"}

// extractKernel copies flatcar/vmlinuz-a out of the ESP of image to dst.
func extractKernel(image string, d *gpt.Disk, dst string) error {
	esp, err := d.ByLabel(flatcar.LabelESP)
	if err != nil {
		return fmt.Errorf("finding the ESP: %w", err)
	}
	fs, err := partitions.OpenVFAT(image, esp.Offset(), esp.Size())
	if err != nil {
		return err
	}
	defer fs.Close()
	r, err := fs.Open(espKernel)
	if err != nil {
		return fmt.Errorf("reading the kernel from the ESP: %w", err)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, r); err != nil {
		return fmt.Errorf("copying the kernel: %w", err)
	}
	return out.Close()
}

// usrSquashfs unpacks USR-A's btrfs (copied out sparsely, read with
// `btrfs restore`) under work and packs it with mksquashfs into
// work/usr.squashfs.
func usrSquashfs(ctx context.Context, image string, d *gpt.Disk, work string) (string, error) {
	usr, err := d.ByLabel(flatcar.LabelUSRA)
	if err != nil {
		return "", fmt.Errorf("finding USR-A: %w", err)
	}
	part := filepath.Join(work, "usr-a.img")
	src, err := os.Open(image)
	if err != nil {
		return "", err
	}
	defer src.Close()
	pf, err := os.Create(part)
	if err != nil {
		return "", err
	}
	if err := pf.Truncate(usr.Size()); err != nil {
		pf.Close()
		return "", err
	}
	if err := sparse.CopyRange(ctx, pf, src, 0, usr.Offset(), usr.Size(), nil); err != nil {
		pf.Close()
		return "", fmt.Errorf("copying USR-A out: %w", err)
	}
	pf.Close()
	tree := filepath.Join(work, "usr")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return "", err
	}
	if err := runTool(ctx, "btrfs", "restore", "-x", "-m", "-S", part, tree); err != nil {
		return "", fmt.Errorf("unpacking USR-A: %w", err)
	}
	os.Remove(part)
	out := filepath.Join(work, usrSquashName)
	if err := runTool(ctx, "mksquashfs", tree, out, "-all-root", "-noappend", "-quiet", "-no-progress"); err != nil {
		return "", fmt.Errorf("packing /usr as squashfs: %w", err)
	}
	if err := os.RemoveAll(tree); err != nil {
		return "", err
	}
	return out, nil
}

func runTool(ctx context.Context, name string, args ...string) error {
	return runToolEnv(ctx, nil, name, args...)
}

// runToolEnv runs a tool with extra environment variables and turns a
// failure into an error carrying its output.
func runToolEnv(ctx context.Context, env []string, name string, args ...string) error {
	cmd := child.Command(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	runlog.Tool(runlog.From(ctx), cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// writeInitrd writes a gzip'd newc cpio holding usr.squashfs to dst.
func writeInitrd(ctx context.Context, dst io.Writer, squashfs string, workers int) error {
	f, err := os.Open(squashfs)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	zw, err := gzipWriter(ctx, dst, workers)
	if err != nil {
		return err
	}
	cw := cpio.NewWriter(zw, archiveTime(ctx).Unix())
	if err := cw.File(usrSquashName, 0o644, st.Size()); err != nil {
		zw.Close()
		return fmt.Errorf("writing the initrd: %w", err)
	}
	if _, err := io.Copy(cw, &ctxReader{ctx: ctx, r: f}); err != nil {
		zw.Close()
		return fmt.Errorf("writing the initrd: %w", err)
	}
	if err := cw.Close(); err != nil {
		zw.Close()
		return fmt.Errorf("writing the initrd: %w", err)
	}
	return zw.Close()
}

// writeIgnitionInitrd writes the extra initrd carrying an Ignition
// config: a gzip'd newc cpio holding usr/share/oem/config.ign (with its
// directories), where Flatcar's initrd looks for an embedded config on
// boots without an OEM partition (docs/provisioning.md).
func writeIgnitionInitrd(ctx context.Context, dst io.Writer, config []byte) error {
	zw, err := gzipWriter(ctx, dst, 1)
	if err != nil {
		return err
	}
	cw := cpio.NewWriter(zw, archiveTime(ctx).Unix())
	if err := cw.File(ignitionInitrdPath, 0o644, int64(len(config))); err != nil {
		zw.Close()
		return fmt.Errorf("writing the Ignition initrd: %w", err)
	}
	if _, err := cw.Write(config); err != nil {
		zw.Close()
		return fmt.Errorf("writing the Ignition initrd: %w", err)
	}
	if err := cw.Close(); err != nil {
		zw.Close()
		return fmt.Errorf("writing the Ignition initrd: %w", err)
	}
	return zw.Close()
}

// writeIgnitionInitrdFile writes the Ignition initrd of config to a new
// file p.
func writeIgnitionInitrdFile(ctx context.Context, p string, config []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	err = writeIgnitionInitrd(ctx, f, config)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ISOLINUX files the ISO boots with (BIOS, El Torito no-emulation, plus
// an isohybrid MBR so the ISO also boots from a USB stick). Debian:
// isolinux and syslinux-common.
var isolinuxFiles = struct{ bin, ldlinux, mbr []string }{
	bin:     []string{"/usr/lib/ISOLINUX/isolinux.bin", "/usr/lib/syslinux/isolinux.bin", "/usr/share/syslinux/isolinux.bin"},
	ldlinux: []string{"/usr/lib/syslinux/modules/bios/ldlinux.c32", "/usr/lib/syslinux/ldlinux.c32", "/usr/share/syslinux/ldlinux.c32"},
	mbr:     []string{"/usr/lib/ISOLINUX/isohdpfx.bin", "/usr/lib/syslinux/isohdpfx.bin", "/usr/share/syslinux/isohdpfx.bin"},
}

type isolinux struct{ bin, ldlinux, mbr string }

func firstFile(paths []string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// findIsolinux locates the ISOLINUX boot files.
func findIsolinux() (isolinux, error) {
	il := isolinux{bin: firstFile(isolinuxFiles.bin), ldlinux: firstFile(isolinuxFiles.ldlinux), mbr: firstFile(isolinuxFiles.mbr)}
	if il.bin == "" || il.ldlinux == "" {
		return il, fmt.Errorf("the iso vendor boots with ISOLINUX but isolinux.bin or ldlinux.c32 is missing (looked in %s): install isolinux and syslinux-common",
			strings.Join(append(isolinuxFiles.bin, isolinuxFiles.ldlinux...), ", "))
	}
	return il, nil
}

// liveInitrds lists the initrds the live media load, in order: the
// /usr initrd, then the Ignition initrd when a config is carried.
func liveInitrds(usr, ignition string, withIgnition bool) []string {
	if withIgnition {
		return []string{usr, ignition}
	}
	return []string{usr}
}

// liveArgs is the kernel command line after the initrd argument: first
// boot (Ignition runs), the console autologin of Flatcar's live system,
// then the user's arguments.
func liveArgs(extra []string) string {
	return strings.Join(append([]string{"flatcar.first_boot=1", "flatcar.autologin"}, extra...), " ")
}

// pxeCommandLine is the kernel command line for booting the pxe vendor's
// kernel with its initrd and, when withIgnition, the Ignition initrd
// after it (pxelinux's comma-separated initrd= form; iPXE takes one
// initrd=NAME per loaded file).
func pxeCommandLine(initrd, ignition string, withIgnition bool, kernelArgs []string) string {
	return "initrd=" + strings.Join(liveInitrds(initrd, ignition, withIgnition), ",") + " " + liveArgs(kernelArgs)
}

// checkKernelArgs refuses kernel arguments that would not stay one
// argument in isolinux.cfg and grub.cfg: empty, or holding white space,
// control characters, quotes or a backslash.
func checkKernelArgs(args []string) error {
	for _, a := range args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' || r > 0x7e
		}) {
			return fmt.Errorf("kernel argument %q: want one printable ASCII word without spaces, quotes or backslashes", a)
		}
	}
	return nil
}

// isolinuxCfg boots the kernel with the initrds; Flatcar's live system
// logs in on the console.
func isolinuxCfg(withIgnition bool, kernelArgs []string) string {
	return `# Generated by bake-os
default flatcar
prompt 1
timeout 15

label flatcar
  kernel /` + isoKernelPath + `
  append initrd=` + strings.Join(isoInitrds(withIgnition), ",") + " " + liveArgs(kernelArgs) + `
`
}

func isoInitrds(withIgnition bool) []string {
	return liveInitrds("/"+isoInitrdPath, "/"+isoIgnitionPath, withIgnition)
}

// grubCfg is the UEFI boot menu: the same kernel, initrds and arguments
// as isolinux.cfg. Arguments are single-quoted (checkKernelArgs keeps
// quotes out) so GRUB passes them verbatim.
func grubCfg(withIgnition bool, kernelArgs []string) string {
	quoted := make([]string, len(kernelArgs))
	for i, a := range kernelArgs {
		quoted[i] = "'" + a + "'"
	}
	return `# Generated by bake-os
set timeout=1
menuentry "Flatcar Container Linux" {
  linux /` + isoKernelPath + " " + liveArgs(quoted) + `
  initrd ` + strings.Join(isoInitrds(withIgnition), " ") + `
}
`
}

// grubEarlyCfg is built into BOOTX64.EFI: it finds the ISO 9660 file
// system (the firmware started GRUB from the El Torito FAT image) and
// reads the menu from it.
const grubEarlyCfg = `search --no-floppy --file --set=root /` + isoKernelPath + `
configfile ($root)/` + isoGrubCfgPath + `
`

// grubModules are built into BOOTX64.EFI (it loads none at run time).
var grubModules = []string{"normal", "configfile", "search", "search_fs_file", "iso9660", "fat", "part_gpt",
	"part_msdos", "linux", "echo", "test", "efi_gop", "efi_uga", "all_video"}

// grubEFIDir holds GRUB's x86_64-efi modules (Debian: grub-efi-amd64-bin).
var grubEFIDir = "/usr/lib/grub/x86_64-efi"

// checkGrubEFI reports whether GRUB for UEFI can be built here.
func checkGrubEFI() error {
	if _, err := os.Stat(filepath.Join(grubEFIDir, "linux.mod")); err != nil {
		return fmt.Errorf("the iso vendor boots UEFI with GRUB but %s lacks its modules: install grub-efi-amd64-bin", grubEFIDir)
	}
	return nil
}

// writeEFIBoot makes the El Torito EFI boot image: a FAT file system
// holding EFI/BOOT/BOOTX64.EFI, a standalone GRUB (grub-mkimage) with
// grubEarlyCfg built in.
func writeEFIBoot(ctx context.Context, dst, work string) error {
	early := filepath.Join(work, "grub-early.cfg")
	if err := os.WriteFile(early, []byte(grubEarlyCfg), 0o644); err != nil {
		return err
	}
	efi := filepath.Join(work, "BOOTX64.EFI")
	args := append([]string{"-O", "x86_64-efi", "-d", grubEFIDir, "-o", efi, "-p", "/EFI/BOOT", "-c", early}, grubModules...)
	if err := runTool(ctx, "grub-mkimage", args...); err != nil {
		return fmt.Errorf("building GRUB for UEFI: %w", err)
	}
	st, err := os.Stat(efi)
	if err != nil {
		return err
	}
	t := archiveTime(ctx)
	if err := os.Chtimes(efi, t, t); err != nil {
		return err
	}
	kib := (st.Size()+1023)/1024 + 256 // room for FAT tables and directories
	env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", t.Unix()), "MTOOLS_SKIP_CHECK=1"}
	if err := runToolEnv(ctx, env, "mkfs.vfat", "-C", dst, fmt.Sprint(kib), "-n", "EFIBOOT", "--invariant"); err != nil {
		return fmt.Errorf("making the EFI boot image: %w", err)
	}
	if err := runToolEnv(ctx, env, "mmd", "-i", dst, "::/EFI", "::/EFI/BOOT"); err != nil {
		return fmt.Errorf("making the EFI boot image: %w", err)
	}
	if err := runToolEnv(ctx, env, "mcopy", "-m", "-i", dst, efi, "::/EFI/BOOT/BOOTX64.EFI"); err != nil {
		return fmt.Errorf("making the EFI boot image: %w", err)
	}
	return nil
}

// writeISO makes an ISO 9660 image (Rock Ridge, Joliet) holding the
// kernel and the initrds that boots by BIOS (ISOLINUX, El Torito
// no-emulation) and by UEFI (El Torito EFI image with GRUB), and is
// isohybrid (MBR and GPT) so it also boots from a USB stick. ignition,
// when not "", is the Ignition initrd.
func writeISO(ctx context.Context, dst, kernel, initrd, ignition string, kernelArgs []string, work string) error {
	il, err := findIsolinux()
	if err != nil {
		return err
	}
	root := filepath.Join(work, "iso")
	for _, d := range []string{"flatcar", "isolinux", "EFI/BOOT"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	withIgn := ignition != ""
	links := [][2]string{{kernel, isoKernelPath}, {initrd, isoInitrdPath}}
	if withIgn {
		links = append(links, [2]string{ignition, isoIgnitionPath})
	}
	for _, l := range links {
		if err := os.Link(l[0], filepath.Join(root, l[1])); err != nil {
			return err
		}
	}
	for _, c := range [][2]string{{il.bin, "isolinux/isolinux.bin"}, {il.ldlinux, "isolinux/ldlinux.c32"}} {
		if err := copyPlain(c[0], filepath.Join(root, c[1])); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "isolinux/isolinux.cfg"), []byte(isolinuxCfg(withIgn, kernelArgs)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, isoGrubCfgPath), []byte(grubCfg(withIgn, kernelArgs)), 0o644); err != nil {
		return err
	}
	if err := writeEFIBoot(ctx, filepath.Join(root, isoEFIImage), work); err != nil {
		return err
	}
	// Fixed times (files, volume dates, volume UUID) so the ISO is
	// reproducible: xorriso takes them from SOURCE_DATE_EPOCH.
	t := archiveTime(ctx)
	paths := []string{isoKernelPath, isoInitrdPath, "isolinux/isolinux.bin", "isolinux/ldlinux.c32",
		"isolinux/isolinux.cfg", isoGrubCfgPath, isoEFIImage, "EFI/BOOT", "EFI", "isolinux", "flatcar", "."}
	if withIgn {
		paths = append(paths, isoIgnitionPath)
	}
	for _, p := range paths {
		if err := os.Chtimes(filepath.Join(root, p), t, t); err != nil {
			return err
		}
	}
	env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", t.Unix())}
	args := []string{"-as", "mkisofs", "-quiet", "-R", "-J", "-V", isoVolumeLabel, "-uid", "0", "-gid", "0",
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", isoEFIImage, "-no-emul-boot"}
	if il.mbr != "" {
		args = append(args, "-isohybrid-mbr", il.mbr, "-isohybrid-gpt-basdat")
	}
	args = append(args, "-o", dst, root)
	return runToolEnv(ctx, env, "xorriso", args...)
}
