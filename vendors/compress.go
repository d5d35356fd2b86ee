package vendors

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/progress"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

// Compression is a release compression: none, bz2, gz, xz, zst or zip.
// By default a vendor run writes only what the platform imports or runs,
// uncompressed (none); the release compressions Flatcar publishes are
// written on request (--compress release, or an explicit list).
type Compression string

const (
	CompressNone Compression = "none"
	CompressBz2  Compression = "bz2"
	CompressGz   Compression = "gz"
	CompressXz   Compression = "xz"
	CompressZst  Compression = "zst"
	CompressZip  Compression = "zip"
	// CompressRelease is a --compress keyword, not a format: each vendor's
	// release compressions (the Compress list of the vendor table).
	CompressRelease Compression = "release"
)

// Compressions lists the valid --compress values.
func Compressions() []string { return []string{"none", "release", "bz2", "gz", "xz", "zst", "zip"} }

// ParseCompression validates one compression format (not the "release"
// keyword).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(strings.ToLower(strings.TrimSpace(s))); c {
	case CompressNone, CompressBz2, CompressGz, CompressXz, CompressZst, CompressZip:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q: use one of %s", s, strings.Join(Compressions(), ", "))
}

// ParseCompressions parses a comma-separated --compress list; "release"
// stays in the list as CompressRelease for Vendor.compressions to expand.
// "" gives nil: the default, uncompressed outputs only.
func ParseCompressions(s string) ([]Compression, error) {
	var out []Compression
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		c, err := ParseCompression(f)
		if err != nil && Compression(strings.ToLower(strings.TrimSpace(f))) == CompressRelease {
			c, err = CompressRelease, nil
		}
		if err != nil {
			return nil, err
		}
		if !containsComp(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func containsComp(cs []Compression, c Compression) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// Ext is the file name suffix the compression adds ("" for none).
func (c Compression) Ext() string {
	if c == CompressNone || c == "" {
		return ""
	}
	return "." + string(c)
}

// checkCompressionTools reports a missing external tool before any work.
func checkCompressionTools(cs []Compression) error {
	if containsComp(cs, CompressBz2) {
		if _, err := bzip2Tool(); err != nil {
			return err
		}
	}
	return nil
}

func bzip2Tool() (string, error) {
	for _, t := range []string{"lbzip2", "bzip2"} {
		if p, err := child.LookPath(t); err == nil {
			return p, nil
		}
	}
	return "", errors.New("bz2 compression needs the lbzip2 or bzip2 tool (Go has no bzip2 writer): install one, or pass --compress with another format (gz, xz, zst, zip, none)")
}

// archiveTime is the timestamp written into archives, compression
// headers and the filesystems a vendor build edits: the build's Epoch
// (BuildOptions.Epoch, which Run and Preflight put in ctx) when it is
// 1980 or later, else 2000-01-01 (zip cannot store times before 1980).
// Fixed so outputs are reproducible.
func archiveTime(ctx context.Context) time.Time {
	if n, _ := ctx.Value(epochKey{}).(int64); n >= 315532800 {
		return time.Unix(n, 0).UTC()
	}
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
}

type epochKey struct{}

// withEpoch returns ctx carrying the build's epoch for archiveTime.
func withEpoch(ctx context.Context, epoch int64) context.Context {
	return context.WithValue(ctx, epochKey{}, epoch)
}

// CompressFile writes src compressed with c to dst (created or truncated;
// the caller renames it into place). name is the member name stored in the
// gz header and in zip archives. Holes of src are not read from disk.
func CompressFile(ctx context.Context, src, dst, name string, c Compression, workers int) error {
	return compressFile(ctx, src, dst, name, c, workers, nil)
}

func compressFile(ctx context.Context, src, dst, name string, c Compression, workers int, rep progress.Reporter) (err error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	r, err := newSparseReader(in)
	if err != nil {
		return err
	}
	// dst is a staged temp file: progress names the output it becomes.
	counter := progress.OrNop(rep).Counter("compressing "+name+c.Ext(), r.size)
	defer func() { progress.Finish(counter, err) }()
	cr := &ctxReader{ctx: ctx, r: r, c: counter}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	defer out.Close()
	if multiStream(c) {
		err = compressSparse(ctx, out, in, r.size, r.exts, name, c, workers, counter)
	} else {
		err = compressTo(ctx, out, cr, name, c, workers)
	}
	if err != nil {
		return fmt.Errorf("compressing %s with %s: %w", name+c.Ext(), c, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

func compressTo(ctx context.Context, out io.Writer, in io.Reader, name string, c Compression, workers int) error {
	buf := make([]byte, 1<<20)
	switch c {
	case CompressGz:
		zw, err := pgzip.NewWriterLevel(out, pgzip.DefaultCompression)
		if err != nil {
			return err
		}
		if err := zw.SetConcurrency(1<<20, 2*workers); err != nil {
			return err
		}
		zw.Name = name
		zw.ModTime = archiveTime(ctx)
		if _, err := io.CopyBuffer(zw, in, buf); err != nil {
			return err
		}
		return zw.Close()
	case CompressZst:
		zw, err := zstd.NewWriter(out, zstd.WithEncoderConcurrency(workers))
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(zw, in, buf); err != nil {
			zw.Close()
			return err
		}
		return zw.Close()
	case CompressXz:
		// ulikunitz/xz: measured faster here than `xz -T2` on disk
		// images (27 s against 43 s for a 13 GB vm-layout test disk).
		zw, err := xz.NewWriter(out)
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(zw, in, buf); err != nil {
			return err
		}
		return zw.Close()
	case CompressZip:
		zw := zip.NewWriter(out)
		zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(w, flate.DefaultCompression)
		})
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: archiveTime(ctx)})
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(fw, in, buf); err != nil {
			return err
		}
		return zw.Close()
	case CompressBz2:
		tool, err := bzip2Tool()
		if err != nil {
			return err
		}
		args := []string{"-c"}
		if filepath.Base(tool) == "lbzip2" {
			args = append(args, "-n", strconv.Itoa(workers))
		}
		return runFilter(ctx, out, in, tool, args...)
	case CompressNone:
		_, err := io.CopyBuffer(out, in, buf)
		return err
	}
	return fmt.Errorf("unknown compression %q", c)
}

// ctxReader stops reading when ctx is done and counts progress.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	c   progress.Counter // may be nil
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if c.c != nil {
		c.c.Add(int64(n))
	}
	return n, err
}

// runFilter runs tool as a stdin-to-stdout filter.
func runFilter(ctx context.Context, out io.Writer, in io.Reader, tool string, args ...string) error {
	cmd := child.Command(ctx, tool, args...)
	cmd.Stdin = in
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	runlog.Tool(runlog.From(ctx), cmd)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(tool), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
