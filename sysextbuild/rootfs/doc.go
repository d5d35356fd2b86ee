// Package rootfs owns file operations under untrusted trees: the root
// filesystems Flix and Flatwrap read, the trees OCI images, Torcx
// tarballs and recipe archives are unpacked into, and the trees built
// from them. Every operation goes through an os.Root (Open, MkdirAll,
// WriteFile, Symlink, OpenRegular, Mknod, Lsetxattr, Lutimes), so no
// entry and no earlier symlink can make it touch anything outside.
//
// Paths inside a root filesystem are resolved as after chroot (Resolve:
// absolute links restart at its root; a link climbing above it is
// refused with ErrPathEscapes), and Copier copies trees out of one keeping
// modes, ownership, symlinks and hard links. CleanArg and SplitMapping
// check the "SRC[:DEST]" path arguments the builders take.
package rootfs
