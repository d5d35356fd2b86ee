// Package benchimage makes the inputs of the end-to-end benchmarks
// (scripts/bench-e2e.sh, scripts/bench-bake.sh): a Flatcar-like release
// image with release-sized contents, its .bin.bz2, the qemu OEM sysext
// that sits beside it in a release, and sample sysexts to bake in.
//
// The image has the exact Flatcar layout (via testimage) and about as much
// data as a real release: USR-A holds host files from /usr/bin, /usr/share
// and /usr/lib up to a target size, by default each zstd-compressed the way
// Flatcar's btrfs stores them (so, as in a release, bzip2 barely shrinks
// them), the ESP a kernel-sized compressed blob, ROOT and OEM almost
// nothing. Making it takes minutes (bzip2 -9 of 8.4 GB), so every output is
// cached in a directory and reused when present.
package benchimage
