package benchimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// source is a host directory to take files from, up to a share of the
// target size in the first pass.
type source struct {
	dir   string
	share float64
}

// hostSources are the host directories files are copied from, in order.
var hostSources = []source{{"/usr/bin", 0.2}, {"/usr/share", 0.2}, {"/usr/lib", 1}}

// hostFiles lists the regular files under dir (sorted, deterministic) with
// their sizes, skipping what cannot be read.
func hostFiles(dir string) []hostFile {
	var out []hostFile
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() == 0 {
			return nil
		}
		out = append(out, hostFile{p, info.Size()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

type hostFile struct {
	path string
	size int64
}

// fillTree copies host files into dst (under their path relative to /usr)
// until their stored size reaches target bytes. With compress set each
// file is stored zstd-compressed, as btrfs with compress=zstd stores it.
// It returns the stored bytes and the host bytes they came from.
func fillTree(ctx context.Context, dst string, target int64, compress bool) (stored, host int64, err error) {
	var enc *zstd.Encoder
	if compress {
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			return 0, 0, err
		}
		defer enc.Close()
	}
	taken := map[string]bool{}
	take := func(f hostFile) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil // unreadable: skip
		}
		host += int64(len(data))
		if enc != nil {
			data = enc.EncodeAll(data, make([]byte, 0, len(data)/2))
		}
		rel := strings.TrimPrefix(f.path, "/usr/")
		out := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return err
		}
		stored += int64(len(data))
		taken[f.path] = true
		return nil
	}
	lists := make([][]hostFile, len(hostSources))
	for i, s := range hostSources {
		lists[i] = hostFiles(s.dir)
	}
	// First pass: each source up to its share; second: anything left.
	for pass := 0; pass < 2 && stored < target; pass++ {
		for i, s := range hostSources {
			limit := stored + int64(s.share*float64(target))
			if pass == 1 || limit > target {
				limit = target
			}
			for _, f := range lists[i] {
				if stored >= limit {
					break
				}
				if taken[f.path] || f.size > 64<<20 {
					continue
				}
				if err := take(f); err != nil {
					return stored, host, err
				}
			}
		}
	}
	if stored < target*9/10 {
		return stored, host, fmt.Errorf("filling tree: found only %d MB of host files under /usr for %d MB", stored>>20, target>>20)
	}
	return stored, host, nil
}

// writeBlob writes size bytes of compressed (hardly compressible) real
// data to path: zstd of host libraries, like a compressed kernel image.
func writeBlob(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &limitWriter{f: f, left: size}
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		return err
	}
	for _, hf := range hostFiles("/usr/lib") {
		if w.left <= 0 {
			break
		}
		data, err := os.ReadFile(hf.path)
		if err != nil {
			continue
		}
		if _, err := enc.Write(data); err != nil && !errors.Is(err, errFull) {
			return err
		}
	}
	_ = enc.Close()
	if w.left > 0 {
		return fmt.Errorf("writing %s: not enough host data for %d bytes", path, size)
	}
	return f.Close()
}

var errFull = errors.New("blob full")

// limitWriter writes up to left bytes and then reports errFull.
type limitWriter struct {
	f    *os.File
	left int64
}

func (w *limitWriter) Write(b []byte) (int, error) {
	if w.left <= 0 {
		return 0, errFull
	}
	n := len(b)
	if int64(n) > w.left {
		b = b[:w.left]
	}
	m, err := w.f.Write(b)
	w.left -= int64(m)
	if err != nil {
		return m, err
	}
	if m < n {
		return m, errFull
	}
	return n, nil
}
