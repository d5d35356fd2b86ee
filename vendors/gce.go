package vendors

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/bake-os/bake-os/sparse"
)

// GCE imports a gzip'd tar holding one raw disk named disk.raw, written in
// GNU tar's old sparse format (tar --format=oldgnu -S) so the disk's holes
// are not stored. Go's archive/tar cannot write sparse members, so the one
// member is written here by hand: a header of type 'S' carrying the first
// four (offset, length) data runs, extension blocks of 21 runs each, then
// the data runs back to back, padded to 512 bytes, then two zero blocks.
const gceDiskName = "disk.raw"

const (
	blockSize         = 512
	sparseInHeader    = 4
	sparsePerExtBlock = 21
)

// writeGCETar writes the GCE tar.gz of the raw disk at rawPath to dst.
func writeGCETar(ctx context.Context, dst io.Writer, rawPath string, workers int) error {
	zw, err := gzipWriter(ctx, dst, workers)
	if err != nil {
		return err
	}
	if err := writeGNUSparse(ctx, zw, gceDiskName, rawPath); err != nil {
		zw.Close()
		return fmt.Errorf("writing %s into the GCE tarball: %w", gceDiskName, err)
	}
	if _, err := zw.Write(make([]byte, 2*blockSize)); err != nil {
		return err
	}
	return zw.Close()
}

// writeGNUSparse writes one old-GNU sparse member (no end-of-archive
// blocks).
func writeGNUSparse(ctx context.Context, w io.Writer, name, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	realSize := st.Size()
	exts, err := sparse.DataExtents(f, 0, realSize)
	if err != nil {
		return err
	}
	var stored int64
	for _, e := range exts {
		stored += e.Len
	}
	runs := append([]sparse.Extent(nil), exts...)
	if len(runs) == 0 || runs[len(runs)-1].End() < realSize {
		// GNU tar ends the map with an empty run at the real size so a
		// trailing hole is restored.
		runs = append(runs, sparse.Extent{Off: realSize, Len: 0})
	}
	hdr, err := gnuSparseHeader(name, realSize, stored, runs, archiveTime(ctx).Unix())
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for _, e := range exts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := io.CopyBuffer(w, io.NewSectionReader(f, e.Off, e.Len), buf); err != nil {
			return err
		}
	}
	if pad := (blockSize - stored%blockSize) % blockSize; pad != 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	return nil
}

// gnuSparseHeader builds the header block plus extension blocks.
func gnuSparseHeader(name string, realSize, stored int64, runs []sparse.Extent, mtime int64) ([]byte, error) {
	if len(name) > 99 {
		return nil, fmt.Errorf("name %q too long for a GNU sparse header", name)
	}
	nExt := 0
	if len(runs) > sparseInHeader {
		nExt = (len(runs) - sparseInHeader + sparsePerExtBlock - 1) / sparsePerExtBlock
	}
	out := make([]byte, blockSize*(1+nExt))
	h := out[:blockSize]
	copy(h[0:100], name)
	putOctal(h[100:108], 0o644)
	putOctal(h[108:116], 0)
	putOctal(h[116:124], 0)
	putNumeric(h[124:136], stored)
	putNumeric(h[136:148], mtime)
	h[156] = 'S'
	copy(h[257:265], "ustar  \x00") // old GNU magic and version
	copy(h[265:297], "root")
	copy(h[297:329], "root")
	for i := 0; i < sparseInHeader && i < len(runs); i++ {
		putNumeric(h[386+24*i:386+24*i+12], runs[i].Off)
		putNumeric(h[386+24*i+12:386+24*i+24], runs[i].Len)
	}
	if nExt > 0 {
		h[482] = 1
	}
	putNumeric(h[483:495], realSize)
	rest := runs[min(len(runs), sparseInHeader):]
	for b := 0; b < nExt; b++ {
		blk := out[blockSize*(1+b) : blockSize*(2+b)]
		for i := 0; i < sparsePerExtBlock && len(rest) > 0; i++ {
			putNumeric(blk[24*i:24*i+12], rest[0].Off)
			putNumeric(blk[24*i+12:24*i+24], rest[0].Len)
			rest = rest[1:]
		}
		if b < nExt-1 {
			blk[504] = 1
		}
	}
	// Checksum: header bytes summed with the checksum field as spaces.
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return out, nil
}

// putOctal writes n as NUL-terminated, zero-padded octal filling field.
func putOctal(field []byte, n int64) {
	s := strconv.FormatInt(n, 8)
	for len(s) < len(field)-1 {
		s = "0" + s
	}
	copy(field, s)
	field[len(field)-1] = 0
}

// putNumeric writes n in octal when it fits, else in GNU base-256 (high
// bit of the first byte set, big-endian binary), as GNU tar reads for
// sizes and offsets over 8 GiB.
func putNumeric(field []byte, n int64) {
	if n < 1<<(3*(len(field)-1)) {
		putOctal(field, n)
		return
	}
	for i := len(field) - 1; i > 0; i-- {
		field[i] = byte(n)
		n >>= 8
	}
	field[0] = 0x80
}

// gceBundle writes the tar.gz GCE imports, the raw disk as disk.raw.
type gceBundle struct{}

func (gceBundle) Name() string { return "gce" }

func (gceBundle) Files() []bundleFile { return []bundleFile{{Role: roleMain, Kind: "archive"}} }

func (gceBundle) Build(ctx context.Context, c *bundleContext) error {
	return c.writeTo(roleMain, func(f *os.File) error {
		return writeGCETar(ctx, f, c.src, c.workers())
	})
}
