#!/usr/bin/env bash
# Installs the Debian packages bake-os needs for a purpose, when missing.
#   scripts/deps.sh demo   tools the demo uses
#   scripts/deps.sh test   every tool the test suite uses as a judge
#   scripts/deps.sh boot   QEMU, a Debian kernel and busybox for the boot tests
set -euo pipefail

# tool -> Debian package
declare -A pkg=(
  [debugfs]=e2fsprogs [e2fsck]=e2fsprogs [mke2fs]=e2fsprogs [resize2fs]=e2fsprogs
  [mkfs.btrfs]=btrfs-progs [btrfs]=btrfs-progs
  [sgdisk]=gdisk
  [mkfs.vfat]=dosfstools [fsck.vfat]=dosfstools
  [mmd]=mtools [mcopy]=mtools [mtype]=mtools [mdir]=mtools
  [mksquashfs]=squashfs-tools [unsquashfs]=squashfs-tools
  [mkfs.erofs]=erofs-utils [fsck.erofs]=erofs-utils [dump.erofs]=erofs-utils
  [qemu-img]=qemu-utils
  [bzip2]=bzip2 [bunzip2]=bzip2 [lbzip2]=lbzip2
  [xz]=xz-utils [zstd]=zstd [gzip]=gzip [zip]=zip [unzip]=unzip [tar]=tar [cpio]=cpio
  [patchelf]=patchelf [bwrap]=bubblewrap [unshare]=util-linux
  [xorriso]=xorriso [osirrox]=xorriso [grub-mkimage]=grub-common
  [dd]=coreutils
  [qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static
)

demo_tools=(debugfs mke2fs resize2fs mkfs.btrfs btrfs mkfs.vfat mmd mcopy mksquashfs unsquashfs bzip2)
boot_tools=(qemu-system-x86_64 busybox cpio mksquashfs debugfs mkfs.btrfs mke2fs mkfs.vfat mmd mcopy xorriso grub-mkimage)
test_tools=()
for t in "${!pkg[@]}"; do
  case " ${boot_tools[*]:0:2} " in *" $t "*) ;; *) test_tools+=("$t") ;; esac
done
# Firmware files checked by path, not by command.
test_files=(/usr/share/OVMF/OVMF_CODE.fd:ovmf /usr/share/AAVMF/AAVMF_CODE.fd:qemu-efi-aarch64
  /usr/lib/ISOLINUX/isolinux.bin:isolinux /usr/lib/syslinux/modules/bios/ldlinux.c32:syslinux-common
  /usr/lib/grub/x86_64-efi/linux.mod:grub-efi-amd64-bin)

case "${1:-test}" in
  demo) tools=("${demo_tools[@]}"); files=(/usr/share/OVMF/OVMF_CODE.fd:ovmf) ;;
  test) tools=("${test_tools[@]}"); files=("${test_files[@]}") ;;
  boot) tools=("${boot_tools[@]}"); files=("/boot/vmlinuz-*-cloud-amd64:linux-image-cloud-amd64") ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

missing=()
for t in "${tools[@]}"; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] || missing+=("${pkg[$t]}")
done
for f in "${files[@]}"; do
  compgen -G "${f%%:*}" >/dev/null || missing+=("${f##*:}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
