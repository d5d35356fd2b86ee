package vendors

import (
	"bytes"
	"context"
	"io"
	"os"

	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
)

// Disk images are mostly holes (a 13 GB vm-layout raw disk holds well
// under 1 GB of data). gzip, bzip2, xz and zstd all allow a file to be a
// concatenation of complete streams (members, frames) that decompresses to
// the concatenation of their contents, which every decompressor of those
// formats accepts. So a hole is written as copies of one stream of
// holeChunk zeros, compressed once, instead of compressing gigabytes of
// zeros again: the source is cut on a holeChunk grid, runs of chunks that
// hold no data become copies of the zero stream, and each run of chunks
// with data is compressed as one stream.
var holeChunk int64 = 64 << 20 // a variable so tests can use small files

type segment struct {
	off, len int64
	hole     bool
}

// segments cuts [0, size) into runs of whole hole chunks and runs of the
// rest, in order.
func segments(exts []sparse.Extent, size int64) []segment {
	var out []segment
	add := func(off, n int64, hole bool) {
		if k := len(out) - 1; k >= 0 && out[k].hole == hole {
			out[k].len += n
			return
		}
		out = append(out, segment{off, n, hole})
	}
	ei := 0
	for off := int64(0); off < size; off += holeChunk {
		end := min(off+holeChunk, size)
		for ei < len(exts) && exts[ei].End() <= off {
			ei++
		}
		hole := end-off == holeChunk && (ei == len(exts) || exts[ei].Off >= end)
		add(off, end-off, hole)
	}
	return out
}

// multiStream reports whether c allows concatenated streams.
func multiStream(c Compression) bool {
	switch c {
	case CompressGz, CompressBz2, CompressXz, CompressZst:
		return true
	}
	return false
}

// compressSparse compresses f (size bytes, data extents exts) to out as
// concatenated streams; name goes into the first stream's header (gzip).
func compressSparse(ctx context.Context, out io.Writer, f *os.File, size int64, exts []sparse.Extent, name string,
	c Compression, workers int, counter progress.Counter) error {
	var zero []byte
	first := true
	for _, s := range segments(exts, size) {
		if s.hole {
			if zero == nil {
				var b bytes.Buffer
				if err := compressTo(ctx, &b, bytes.NewReader(make([]byte, holeChunk)), "", c, workers); err != nil {
					return err
				}
				zero = b.Bytes()
			}
			for n := s.len / holeChunk; n > 0; n-- {
				if err := ctx.Err(); err != nil {
					return err
				}
				if _, err := out.Write(zero); err != nil {
					return err
				}
				counter.Add(holeChunk)
			}
			continue
		}
		r := &sparseReader{f: f, exts: exts, off: s.off, size: s.off + s.len}
		nm := ""
		if first {
			nm = name
		}
		if err := compressTo(ctx, out, &ctxReader{ctx: ctx, r: r, c: counter}, nm, c, workers); err != nil {
			return err
		}
		first = false
	}
	return nil
}
