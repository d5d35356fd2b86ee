// Package sysextbuild owns the making of systemd-sysext images: packing a
// directory tree into a squashfs, erofs, ext4, ext2 or btrfs image
// ([Pack]), the extension-release metadata inside it, the sysupdate
// configuration and SHA256SUMS files published beside it, and release
// builds of many extensions for both architectures ([Release]), each
// image made by a [Builder] the caller passes.
//
// # Packing
//
// A sysext tree holds content under usr/ (and opt/). Pack refuses a tree
// with usr/sbin (on Flatcar /usr/sbin is a symlink to /usr/bin, which the
// overlay would hide) and warns about anything else outside usr/ and opt/.
// It writes usr/lib/extension-release.d/extension-release.NAME with ID,
// SYSEXT_LEVEL (only when ID is not "_any"), ARCHITECTURE and optionally
// EXTENSION_RELOAD_MANAGER=1. A file the tree already has at that path is
// kept: the generated fields it lacks are added, and a field it sets
// differently is refused (ErrReleaseConflict), never silently replaced.
// With PackOptions.OEM the image is Flatcar's OEM sysext oem-ID
// (OEMExtensionRelease: ID=flatcar, VERSION_ID or SYSEXT_LEVEL,
// ARCHITECTURE, EXTENSION_RELOAD_MANAGER=1, SYSEXT_ID=oem-ID).
//
// Every directory and regular file of the tree must be readable by the
// packing user: one that is not is an error naming it (mksquashfs would
// store an empty file or drop the directory and still succeed).
//
// The input tree is never modified. In the image every file is owned by
// root (uid 0, gid 0) whatever it is on disk, every timestamp is the epoch,
// extended attributes are dropped, the root directory is mode 0755, and two
// packs of the same tree are byte-identical whatever the tree's timestamps.
//
// # Formats and tools
//
// Each format is written by its standard tool, found in PATH; a missing
// tool is an error naming the Debian package that provides it:
//
//	squashfs  mksquashfs                    squashfs-tools (default, fastest)
//	erofs     mkfs.erofs                    erofs-utils
//	ext4/ext2 mke2fs, debugfs               e2fsprogs
//	btrfs     mkfs.btrfs                    btrfs-progs
//
// squashfs is packed straight from the tree (the extension-release file is
// injected as a mksquashfs pseudo file); the other formats pack a staging
// copy in a temporary directory beside the output.
//
// # Where trees come from
//
// This package packs trees; making them is elsewhere: recipes in
// sysextbuild/recipe, root filesystem builders in sysextbuild/flix,
// sysextbuild/flatwrap and sysextbuild/torcx (which end in BuildAndPack),
// container images unpacked by sysextbuild/oci, and every file operation
// under an untrusted tree in sysextbuild/rootfs.
//
// # Outputs
//
// Every output (image, SHA256SUMS.NAME, NAME.conf) is written to a
// temporary file in the output directory and renamed into place, so
// nothing half-written is left behind on failure or cancellation.
package sysextbuild
