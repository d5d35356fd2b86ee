// Package sysext owns reading systemd-sysext images: recognising their
// filesystem (squashfs, erofs, ext4, btrfs), reading
// usr/lib/extension-release.d/extension-release.NAME out of them, and
// deciding whether systemd-sysext on a given host would accept them
// (ID, SYSEXT_LEVEL or VERSION_ID, ARCHITECTURE), as systemd-sysext(8)
// describes.
//
// squashfs is read in-process with go-diskfs, falling back to
// "unsquashfs -cat" for compressors go-diskfs lacks (lz4); erofs, ext4 and
// btrfs are read with their own tools (fsck.erofs, debugfs, btrfs restore).
package sysext
