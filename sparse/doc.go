// Package sparse owns copying and writing byte ranges of large, mostly
// empty disk image files without reading or writing their holes.
//
// Flatcar images are 8.4 GB of which well under 1 GB is data. Reading a hole
// costs as much as reading data (about 6 s per GB here), so every copy walks
// the data extents with SEEK_DATA/SEEK_HOLE and moves only those, with
// copy_file_range where the kernel offers it. Regions that must become
// zero in the destination are punched out (FALLOC_FL_PUNCH_HOLE), never
// written with zeros.
package sparse
