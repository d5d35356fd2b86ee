// Package flatwrap owns Flatwrap sysexts (`bake-os sysext flatwrap`): a
// whole foreign root filesystem shipped under /usr/local/NAME/, with
// entry-point wrappers that run its binaries inside it (unshare for
// root; bwrap or an unprivileged user namespace for other users) with the
// host's /dev, /proc, /sys, /run and /tmp and, by default, /etc, /var and
// /home mapped in; the tree is packed with sysextbuild.
//
// The root filesystem is hostile input: it is read through an os.Root
// with chroot-style resolution (package rootfs).
package flatwrap
