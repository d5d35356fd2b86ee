// Package oci owns turning container images into root filesystem
// directories ([Rootfs], `bake-os sysext oci-rootfs`): an image from an OCI
// layout, an OCI or docker-save archive or a registry, for one
// architecture, its layers applied in order with whiteouts ([Applier],
// also used for Torcx tarballs), or the filesystem a container of the
// image exports after running a command in podman or docker. It also
// owns finding a working container engine ([FindEngine]), which the
// recipes' container builds use too.
//
// Layers are hostile input: every write goes through an os.Root
// (package rootfs), so no entry or earlier symlink can reach outside the
// directory.
package oci
