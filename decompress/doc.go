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
//     BWT walked along twelve chains at once, RLE1) into segments: literal
//     bytes and runs of one byte. A run of zeros is never materialised; its
//     CRC is computed in O(log n) by polynomial arithmetic.
//   - A worker remembers the last block it decoded from a short piece
//     (repeat.go): a piece with exactly the same bits, as every full
//     block of zeros has, gets a copy of that output instead of being
//     decoded again. The output is a function of those bits alone, so
//     this changes nothing but the time; the stream CRC is still
//     checked over every block.
//   - An ordered collector accepts a piece only if the previous block's
//     decode ended exactly where the piece starts. A magic that occurs by
//     chance inside compressed data is therefore skipped: the block that
//     ran past it is decoded again over the joined pieces. Block CRCs and
//     the combined stream CRC are checked; concatenated streams (pbzip2
//     output, cat a.bz2 b.bz2) are one output.
//   - The writer uses WriteAt at absolute offsets and seeks over zero runs
//     of HoleSize bytes or more, so they become holes; the file is
//     truncated to the exact output length at the end. Options.Written
//     follows it: the offset below which the file is final, so a
//     consumer (a vendor disk writer) can read it while decoding goes on.
//
// Bzip2FileToSparse wraps it for files: temporary output in the target
// directory, renamed on success, removed on failure. Errors about the
// data (truncated, corrupt, CRC mismatch) match ErrCorrupt and name the
// byte offset; an input that is not bzip2 gives ErrNotBzip2. Randomised
// blocks (written only by bzip2 0.9.0 and older, deprecated since) are
// refused.
//
// # Speed
//
// Per block, the inverse BWT is bound by memory latency, hence the
// many-chain walk (bwt.go); Huffman codes of up to 12 bits decode with one
// table lookup; move-to-front of small indexes works on 64-bit words, of
// large ones always moves 255 bytes (one copy length); RLE1 finds runs
// eight bytes at a time. Blocks of zeros cost next to nothing.
// On a Flatcar-like image (scripts/bench-bz2.sh: 8 GiB, 1 GiB of data,
// 367 MB compressed, 2 shared cores) this took 15.6 s against 49.2 s for
// bunzip2 and 32.6 s for lbzip2 -d, both writing to a file, in one run on
// a loaded machine; after the move-to-front and Huffman work, 6.8 s wall
// and 11.3 CPU-s alone. On data without zeros it is a little faster than
// lbzip2 -d.
//
// The benchmark image of scripts/bench-e2e.sh is lbzip2 output, whose
// blocks of zeros are 900 kB each: with the repeated-block memory,
// 8558 blocks of its 8.4 GB were copied rather than decoded. Decoding it
// took 35.5 and 35.7 CPU-s against 39.6 and 36.7 before (bz2cat, two
// workers, alternating runs on a machine at load 9-12, where CPU times
// inflate about 2.5x over idle). The scanner tests seven positions per
// step (BenchmarkScan: 10 ms instead of 20 ms CPU per 8 MB of
// incompressible bzip2, same load). What remains is per block of real
// data: in a profile of a whole bake, the inverse BWT walk 37% of the
// CPU samples, Huffman and RUNA/RUNB 16%, move-to-front copies 14%,
// building the links 10%, the scanner 4%, CRC and RLE1 2%.
package decompress
