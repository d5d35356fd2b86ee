// Package vendors owns the Flatcar vendor images: the registry of every
// vendor of docs/vendors.md (disk format, layout, OEM sysext, GRUB settings,
// output names, release compression, architectures, extra artefacts), the
// OEM files each vendor writes (/grub.cfg, /oem-release), the bundles some
// vendors ship (qemu_uefi launcher, .vmx, OVF, .ova, GCE tarball, Vagrant
// .box, Parallels .tgz, Xen configs, ISO, PXE and the live USB disk) and the
// release compressions.
//
// # Registry
//
// All returns the vendors in one explicit table (no init registration);
// Parse turns a --vendor list into vendors and is the single place that
// validates names. The table drives --help (HelpText) and the tests.
//
// # Bundles
//
// A vendor row names its bundle (bundle.go): what writes the vendor's
// files from its prepared disk, or, for live media, from the kernel and
// /usr initrd. Each bundle is one file (disk.go's plain disk, qemu_uefi,
// vmx, ova, ovf, gce, vagrant, vagrant_parallels, parallels, xen, iso,
// pxe) listed in bundles(); it declares its files by role (main output
// first, kind, release compression, Ignition-only) and the row names the
// file of each role (File, Extras). Output names, the overwrite checks
// and the artifacts all come from that declaration; the builder refuses a
// bundle whose writes differ from it, and the conformance test checks
// that nothing else appears in the output directory.
//
// # Build
//
// Build takes a baked generic image (never modified) and produces every
// requested vendor. Vendors that share a (layout, OEM sysext) pair share one
// prepared disk: it is grown and gets its OEM files once, then written in
// each vendor's format. Inputs are validated before any work; outputs are
// written to temp files in the output directory and renamed at the end, and
// nothing is left behind on failure.
//
// # Release compression
//
// CompressFile writes none, bz2, gz, xz, zst or zip. Holes of the sparse
// source are never read; for the formats that allow concatenated streams
// (gz, bz2, xz, zst) runs of holes are written as copies of one
// precompressed stream of zeros (see compress_sparse.go).
//
// Disk formats themselves (raw, qcow2, vmdk, vhd, vhdx, parallels) are
// owned by the sub-package diskfmt; disk.go is the one place that maps a
// vendor's disk to a diskfmt writer.
package vendors
