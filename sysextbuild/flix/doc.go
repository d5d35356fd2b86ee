// Package flix owns Flix sysexts (`bake-os sysext flix`): chosen
// binaries and resources copied out of a foreign root filesystem together
// with their dynamic loader and the libraries they need, all under
// /usr/local/NAME/, their ELF interpreter and rpath rewritten with
// patchelf (DF_1_NODEFLIB set) so that they load only those libraries,
// and the tree packed with sysextbuild.
//
// The root filesystem is hostile input: it is read through an os.Root
// with chroot-style resolution (package rootfs), and patchelf gets an
// already opened file, never a path it could follow.
package flix
