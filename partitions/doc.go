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
// The btrfs rebuild keeps what OEM holds or says it cannot; it never
// drops a property silently. Before unpacking, the filesystem is read
// (internal/btrfsfix.Scan) and each property is decided:
//
//   - kept: file data, directories, symlinks, modes including set-id bits,
//     owners, xattrs of files and directories (user, security, trusted as
//     root), atime, mtime and otime of entries the edit does not touch
//     (written back after mkfs), hardlinks (restore writes copies; they are
//     linked again), FIFOs (restore skips them; they are made again),
//     device nodes as root (made again; mkfs.btrfs 6.2 drops
//     device numbers, so they are written into the inode after mkfs),
//     inode flags such as COMPRESS, NOATIME or IMMUTABLE (written into the
//     inode after mkfs), the filesystem, device, chunk-tree and top
//     subvolume UUIDs.
//   - changed and reported (Btrfs.Lost: a logger warning and the bake's
//     --json "warnings"): compression (data is stored uncompressed, the
//     btrfs.compression property and other btrfs.* properties are
//     dropped), holes and preallocated ranges (written as zeros),
//     NODATACOW/NODATASUM (data gets copy-on-write and checksums), xattrs
//     of special files and of the root directory, socket files.
//   - changed as any edit changes it, without a report: ctime (the epoch,
//     or the rebuild time), and all times of the entries the edit writes
//     and the mtime of their directories (the epoch or the current time).
//   - refused (Commit fails, the image is untouched): subvolumes and
//     snapshots (mkfs.btrfs 6.2 has no --subvol), and, as non-root, owners
//     other than root and device nodes.
//
// Everything changed or refused is kept by the mount editor (--mount,
// root only), which edits the filesystem through the kernel.
//
// The rebuild is byte-reproducible: mkfs.btrfs reads a name-ordered copy
// of the tree on a fresh tmpfs (inode numbers and directory order follow
// from the names), and the device, chunk-tree and subvolume UUIDs it
// picks at random are replaced by the original's; with an epoch, every
// time the rebuild itself makes is that epoch.
//
// Table-level work (which partition is where) belongs to package gpt.
package partitions
