// Package torcx owns converting Torcx image tarballs (Flatcar's old way
// of switching Docker versions) into sysexts (`bake-os sysext torcx`),
// on a best-effort basis: bin/ and lib/ move under usr/, units lose their
// Torcx environment and get the TORCX_* variables set, and each
// *.wants/UNIT link becomes an Upholds= drop-in. The tree is packed with
// sysextbuild.
//
// The tarball is hostile input: it is unpacked with oci's layer Applier
// into an os.Root (package rootfs).
package torcx
