// Package boot owns starting a baked image in QEMU to look at it: finding
// the disk in an output directory, UEFI firmware (the release's, a
// directory's or the distribution's), a copy-on-write overlay so the image
// is never modified, user networking with ssh forwarded, the Ignition
// config through fw_cfg as Flatcar's QEMU launcher passes it, KVM when
// /dev/kvm is usable and TCG otherwise. A kernel and initrd can be booted
// directly instead of the firmware (tests use a Debian kernel and a busybox
// initramfs to look inside a bake).
package boot
