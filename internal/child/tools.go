package child

import (
	"fmt"
	"os/exec"
)

// Packages maps each external tool bake-os or its tests run to the Debian
// package that provides it. It is the one such table: every "NAME not
// found: install PKG" message (LookPath, NotFound) and scripts/deps.sh
// (through internal/cmd/deps) derive from it, and a test checks that every
// tool the code names is listed. "" marks a tool Debian 12 does not package.
var Packages = map[string]string{
	// filesystems
	"debugfs": "e2fsprogs", "e2fsck": "e2fsprogs", "mke2fs": "e2fsprogs", "mkfs.ext4": "e2fsprogs",
	"resize2fs": "e2fsprogs", "dumpe2fs": "e2fsprogs",
	"btrfs": "btrfs-progs", "mkfs.btrfs": "btrfs-progs",
	"mkfs.vfat": "dosfstools", "fsck.vfat": "dosfstools",
	"mmd": "mtools", "mcopy": "mtools", "mtype": "mtools", "mren": "mtools", "mdir": "mtools", "minfo": "mtools",
	"mksquashfs": "squashfs-tools", "unsquashfs": "squashfs-tools",
	"mkfs.erofs": "erofs-utils", "fsck.erofs": "erofs-utils", "dump.erofs": "erofs-utils",
	"mkswap": "util-linux",
	// disks and images
	"sgdisk": "gdisk", "qemu-img": "qemu-utils", "xorriso": "xorriso", "osirrox": "xorriso", "dmsetup": "dmsetup",
	"grub-mkimage": "grub-common",
	"losetup":      "mount", "mount": "mount", "umount": "mount", "swapon": "mount", "swapoff": "mount",
	"partx": "util-linux", "systemd-dissect": "systemd", "modprobe": "kmod",
	// compression and archives
	"bzip2": "bzip2", "bunzip2": "bzip2", "lbzip2": "lbzip2", "xz": "xz-utils", "zstd": "zstd",
	"gzip": "gzip", "zip": "zip", "unzip": "unzip", "tar": "tar", "cpio": "cpio", "dpkg-deb": "dpkg",
	// sandboxes, namespaces and binaries
	"unshare": "util-linux", "setpriv": "util-linux", "setsid": "util-linux", "bwrap": "bubblewrap",
	"patchelf": "patchelf", "ldd": "libc-bin", "podman": "podman", "docker": "docker.io",
	"butane": "", // github.com/coreos/butane releases
	// booting
	"qemu-system-x86_64": "qemu-system-x86", "qemu-system-aarch64": "qemu-system-arm",
	"busybox": "busybox-static",
	// basics the tests use
	"sh": "dash", "bash": "bash", "dd": "coreutils", "cp": "coreutils", "cat": "coreutils",
	"ls": "coreutils", "du": "coreutils", "sha256sum": "coreutils", "true": "coreutils",
	"sleep": "coreutils", "cmp": "diffutils", "make": "make", "git": "git", "grep": "grep",
}

// NotFound is the one-line error for a missing tool: "NAME not found:
// install PKG" (Packages), matching exec.ErrNotFound.
func NotFound(name string) error { return notFound(name) }

type notFound string

func (n notFound) Error() string {
	if pkg := Packages[string(n)]; pkg != "" {
		return fmt.Sprintf("%s not found: install %s", string(n), pkg)
	}
	return fmt.Sprintf("%s not found: install it", string(n))
}

func (n notFound) Unwrap() error { return exec.ErrNotFound }

// LookPath is exec.LookPath whose error, for a tool not found, is
// NotFound(name).
func LookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", NotFound(name)
	}
	return p, nil
}
