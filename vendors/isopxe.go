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
	pxeKernelName  = "flatcar_production_pxe.vmlinuz"
	isoKernelPath  = "flatcar/vmlinuz"
	isoInitrdPath  = "flatcar/cpio.gz"
	isoVolumeLabel = "FLATCAR_BOOT"
)

// bootToolsFor lists the tools a vendor's boot artefacts need.
func bootToolsFor(v Vendor) []string {
	switch v.Bundle {
	case BundlePXE:
		return []string{"btrfs", "mksquashfs"}
	case BundleISO:
		return []string{"btrfs", "mksquashfs", "xorriso"}
	}
	return nil
}

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
	cw := &cpioWriter{w: zw, mtime: uint32(archiveTime(ctx).Unix())}
	cw.header(usrSquashName, 0o100644, st.Size(), 1)
	if _, err := io.Copy(cw, &ctxReader{ctx: ctx, r: f}); err != nil {
		zw.Close()
		return fmt.Errorf("writing the initrd: %w", err)
	}
	cw.pad()
	cw.header("TRAILER!!!", 0, 0, 2)
	if cw.err != nil {
		zw.Close()
		return fmt.Errorf("writing the initrd: %w", cw.err)
	}
	return zw.Close()
}

// cpioWriter writes the SVR4 "newc" cpio format (what the kernel unpacks).
type cpioWriter struct {
	w     io.Writer
	mtime uint32 // of every member
	n     int64
	err   error
}

func (c *cpioWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.Write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) header(name string, mode uint32, size int64, ino uint32) {
	fields := []uint32{ino, mode, 0, 0, 1, c.mtime, uint32(size), 0, 0, 0, 0, uint32(len(name) + 1), 0}
	var b strings.Builder
	b.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	c.Write([]byte(b.String()))
	c.pad()
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

// isolinuxCfg boots the kernel with the initrd; Flatcar's live system
// logs in on the console.
const isolinuxCfg = `# Generated by bake-os
default flatcar
prompt 1
timeout 15

label flatcar
  kernel /flatcar/vmlinuz
  append initrd=/flatcar/cpio.gz flatcar.first_boot=1 flatcar.autologin
`

// writeISO makes a BIOS-bootable (ISOLINUX, isohybrid) ISO 9660 image
// with Rock Ridge and Joliet holding the kernel and the initrd, with
// xorriso.
func writeISO(ctx context.Context, dst, kernel, initrd, work string) error {
	il, err := findIsolinux()
	if err != nil {
		return err
	}
	root := filepath.Join(work, "iso")
	for _, d := range []string{"flatcar", "isolinux"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, l := range [][2]string{{kernel, isoKernelPath}, {initrd, isoInitrdPath}} {
		if err := os.Link(l[0], filepath.Join(root, l[1])); err != nil {
			return err
		}
	}
	for _, c := range [][2]string{{il.bin, "isolinux/isolinux.bin"}, {il.ldlinux, "isolinux/ldlinux.c32"}} {
		if err := copyPlain(c[0], filepath.Join(root, c[1])); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "isolinux/isolinux.cfg"), []byte(isolinuxCfg), 0o644); err != nil {
		return err
	}
	// Fixed times (files, volume dates, volume UUID) so the ISO is
	// reproducible: xorriso takes them from SOURCE_DATE_EPOCH.
	t := archiveTime(ctx)
	for _, p := range []string{isoKernelPath, isoInitrdPath, "isolinux/isolinux.bin", "isolinux/ldlinux.c32",
		"isolinux/isolinux.cfg", "isolinux", "flatcar", "."} {
		if err := os.Chtimes(filepath.Join(root, p), t, t); err != nil {
			return err
		}
	}
	env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", t.Unix())}
	args := []string{"-as", "mkisofs", "-quiet", "-R", "-J", "-V", isoVolumeLabel, "-uid", "0", "-gid", "0",
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"}
	if il.mbr != "" {
		args = append(args, "-isohybrid-mbr", il.mbr)
	}
	args = append(args, "-o", dst, root)
	return runToolEnv(ctx, env, "xorriso", args...)
}
