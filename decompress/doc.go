// Package decompress owns turning compressed release images into sparse
// files on disk.
//
// # bzip2
//
// Bzip2ToSparse is a parallel bzip2 decoder written for disk images: an
// 8 GiB Flatcar image is mostly zeros, and bunzip2 spends a third of its
// time producing those zeros. Here:
//
//   - A scanner reads the compressed stream once and cuts it at every
//     bit-aligned block magic (0x314159265359) and end-of-stream magic
//     (0x177245385090). Each piece goes to a worker; a fixed number of
//     pieces is in flight, so memory is bounded whatever the input size.
//   - A worker decodes one block (Huffman with lookup tables, MTF, inverse
//     BWT walked from both ends at once, RLE1) into segments: literal bytes
//     and runs of one byte. A run of zeros is never materialised; its CRC is
//     computed in O(log n) by polynomial arithmetic.
//   - An ordered collector accepts a piece only if the previous block's
//     decode ended exactly where the piece starts. A magic that occurs by
//     chance inside compressed data is therefore skipped: the block that
//     ran past it is decoded again over the joined pieces. Block CRCs and
//     the combined stream CRC are checked; concatenated streams (pbzip2,
//     lbzip2 output, cat a.bz2 b.bz2) are one output.
//   - The writer uses WriteAt at absolute offsets and seeks over zero runs
//     of HoleSize bytes or more, so they become holes; the file is
//     truncated to the exact output length at the end.
//
// Randomised blocks (written only by bzip2 0.9.0 and older, deprecated
// since) are refused.
package decompress
