// Package install owns writing a baked Flatcar image onto a disk (a block
// device or a disk-image file), as `bake-os install --device DEV` does:
//
//   - inspecting the target and refusing what must not be written: a
//     partition instead of a whole disk, a disk that is mounted (itself or
//     a partition), held by md/LVM/dm, opened exclusively elsewhere,
//     smaller than the image, with sectors other than 512 bytes, or the disk
//     the running system lives on (the one holding / or /usr); a file that
//     is a loop device's backing file or the input image;
//   - fitting the baked image to the disk: the backup GPT moved to the
//     disk's last LBA (LastUsable updated) and, when asked, ROOT and its
//     ext4 grown to the end of the disk;
//   - writing only the image's data extents, and zeroing every other byte
//     of the image's span and of each partition (a cheap unmapping zero
//     where the device offers one, BLKZEROOUT otherwise, holes for files),
//     with the partition table written last so a disk interrupted midway
//     has no valid table;
//   - reading everything back (every data extent's SHA-256, zeroed ranges
//     sampled) before reporting success.
//
// The bake itself is the caller's (Options.Bake): this package gets a
// finished image in a scratch directory and removes it afterwards. Unless
// Options.NoStream, it follows the bake's working copy as it is decoded
// (bake.Options.WorkingCopyWritten) and writes the partitions the bake
// does not edit to the target meanwhile (ahead.go), punching USR-A and
// USR-B out of the working copy once written; the writer then writes only
// the rest, rewriting any extent written ahead that the finished image no
// longer matches, and the read-back covers both.
package install
