// Package partitions owns the contents of filesystems inside the partitions
// of a disk image: one Editor interface (make directories, stream a file in,
// symlink, chmod/chown, read, stat, list, free space) with a backend per
// filesystem, all working rootless on the image file itself, without loop
// devices or mounts:
//
//   - ext4 (ROOT): e2fsprogs' debugfs on "image?offset=N". Edits are queued
//     and applied in one debugfs run per Commit (and before any read), and
//     every debugfs error line is turned into a Go error. go-diskfs's ext4
//     writer is not used: on a filesystem made with Flatcar's mke2fs options
//     it corrupts the resize inode's reserved GDT blocks.
//   - btrfs (OEM): no Go writer exists, so the partition is copied out
//     sparsely, unpacked with "btrfs restore", edited as a directory and
//     rebuilt with "mkfs.btrfs --rootdir" keeping UUID, label and the mixed
//     single profile, then copied back (holes punched, not written). Run as
//     a non-root user, the btrfs tools run in a user namespace mapped to
//     root so the files stay root-owned.
//   - vfat (ESP): read-only through go-diskfs. FATDir lists one directory
//     by short names with a reader of its own that bounds every read and
//     refuses cyclic cluster chains (go-diskfs walks those forever); the
//     image's architecture is read with it.
//   - mount (optional, root only): the partition on a loop device with its
//     offset, mounted with u-root's mount package; plain file operations,
//     no rebuild.
//
// Table-level work (which partition is where) belongs to package gpt.
package partitions
