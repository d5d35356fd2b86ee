// Package diskfmt owns the native writers of virtual disk formats: raw
// (sparse), qcow2, VMDK (monolithicSparse and streamOptimized), VHD (fixed
// and dynamic), VHDX and Parallels. Each format is one file implementing
// Format; All lists them explicitly and Lookup finds one by name.
//
// Every writer reads only the data extents of its sparse raw source
// (SEEK_DATA/SEEK_HOLE), cuts them into the format's clusters, skips
// all-zero clusters and, where the format compresses, deflates clusters on
// all cores (a bounded pool of workers feeding an ordered writer), then
// writes the output front to back. Outputs are deterministic: no clocks, and
// identifiers (VMDK CID, VHD/VHDX GUIDs) are derived from the content.
//
// Ahead overlaps a qcow2 write with whatever produces its source: while
// the raw image is still being written (decompressed), it encodes the
// clusters of ranges the caller expects to stay unchanged, following a
// "final below offset X" watermark; Finish checks them against the
// finished source (falling back to a full write when any changed), adds
// the rest and writes the tables. Clusters may sit in any order in a
// qcow2 file, so the result is the same virtual disk as Write's.
//
// qemu-img is never run here; it is the oracle of the conformance suite in
// diskfmt/conformtest.
package diskfmt
