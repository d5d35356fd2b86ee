// Package sysext owns reading systemd-sysext images: recognising their
// filesystem (squashfs, erofs, ext4, btrfs), reading
// usr/lib/extension-release.d/extension-release.NAME out of them, and
// deciding whether systemd-sysext on a given host would accept them
// (ID, SYSEXT_LEVEL or VERSION_ID, ARCHITECTURE), as systemd-sysext(8)
// describes.
//
// squashfs is read in-process with go-diskfs, falling back to
// "unsquashfs -cat" for compressors go-diskfs lacks (lz4) and for images
// go-diskfs trips over; erofs, ext4 and btrfs are read with their own
// tools (fsck.erofs, debugfs, btrfs restore), never following a symlink
// out of what they extracted. go-diskfs runs under corrupt.Guard, so a
// damaged image is an error ("reading IMAGE: corrupt squashfs image
// (...)"), never a panic.
//
// Before its extension-release is trusted (ReadRelease), an image is
// judged by its filesystem's own checker (Check: unsquashfs -s and -lls,
// fsck.erofs, e2fsck -fn, btrfs check --readonly): an image only bake-os
// could read would not merge on the host either, so it is refused.
package sysext
