// Command deps prints, one a line, the Debian packages missing for a
// purpose: the tools of that purpose not found in PATH (nor /usr/sbin,
// /sbin) and the files not present, each named by its package from
// internal/child.Packages. scripts/deps.sh installs what it prints.
//
//	go run ./internal/cmd/deps demo|test|boot
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/bake-os/bake-os/internal/child"
)

// purposes lists the tools each purpose runs.
var purposes = map[string][]string{
	"demo": {"debugfs", "mke2fs", "resize2fs", "mkfs.btrfs", "btrfs", "mkfs.vfat", "mmd", "mcopy",
		"mksquashfs", "unsquashfs", "bzip2"},
	// every tool the test suite uses as a judge or a fixture maker
	"test": {"debugfs", "e2fsck", "mke2fs", "resize2fs", "mkfs.btrfs", "btrfs", "sgdisk",
		"mkfs.vfat", "fsck.vfat", "mmd", "mcopy", "mtype", "mksquashfs", "unsquashfs",
		"mkfs.erofs", "fsck.erofs", "dump.erofs", "qemu-img", "bzip2", "bunzip2", "lbzip2",
		"xz", "zstd", "gzip", "zip", "unzip", "tar", "cpio", "patchelf", "bwrap", "unshare",
		"xorriso", "osirrox", "grub-mkimage", "mdir", "dd",
		// install's refusals of busy devices (loop, swap, device-mapper)
		"losetup", "mount", "mkswap", "swapon", "partx", "dmsetup", "modprobe"},
	"boot": {"qemu-system-x86_64", "busybox", "cpio", "mksquashfs", "debugfs", "mkfs.btrfs",
		"mke2fs", "mkfs.vfat", "mmd", "mcopy", "xorriso", "grub-mkimage"},
}

// files are checked by path (a glob), not as commands, with their package.
var files = map[string][][2]string{
	"demo": {{"/usr/share/OVMF/OVMF_CODE.fd", "ovmf"}},
	"test": {{"/usr/share/OVMF/OVMF_CODE.fd", "ovmf"}, {"/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64"},
		{"/usr/lib/ISOLINUX/isolinux.bin", "isolinux"}, {"/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"},
		{"/usr/lib/grub/x86_64-efi/linux.mod", "grub-efi-amd64-bin"}, {"/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"}},
	"boot": {{"/boot/vmlinuz-*-cloud-amd64", "linux-image-cloud-amd64"}, {"/usr/share/OVMF/OVMF_CODE.fd", "ovmf"},
		{"/usr/lib/ISOLINUX/isolinux.bin", "isolinux"}, {"/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"},
		{"/usr/lib/grub/x86_64-efi/linux.mod", "grub-efi-amd64-bin"}, {"/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"}},
}

func main() {
	if len(os.Args) != 2 || purposes[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: deps demo|test|boot")
		os.Exit(2)
	}
	missing, err := missingPackages(os.Args[1], found)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deps:", err)
		os.Exit(1)
	}
	for _, p := range missing {
		fmt.Println(p)
	}
}

// missingPackages returns the sorted packages of purpose's tools that have
// is false and of its files that are absent.
func missingPackages(purpose string, have func(tool string) bool) ([]string, error) {
	var out []string
	for _, t := range purposes[purpose] {
		if have(t) {
			continue
		}
		pkg := child.Packages[t]
		if pkg == "" {
			return nil, fmt.Errorf("tool %s has no Debian package in internal/child.Packages", t)
		}
		out = append(out, pkg)
	}
	for _, f := range files[purpose] {
		if m, _ := filepath.Glob(f[0]); len(m) == 0 {
			out = append(out, f[1])
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func found(tool string) bool {
	if _, err := child.LookPath(tool); err == nil {
		return true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if st, err := os.Stat(filepath.Join(dir, tool)); err == nil && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}
