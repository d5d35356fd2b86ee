package recipe

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// archiveEntry is one member of a tar or zip archive.
type archiveEntry struct {
	name     string // cleaned, relative, without leading ./
	mode     fs.FileMode
	typ      byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	linkname string
	open     func() (io.Reader, error)
}

// walkArchive calls fn for each entry of the archive at file.
func walkArchive(file, format string, fn func(e archiveEntry) error) error {
	if format == "zip" {
		return walkZip(file, fn)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("opening archive: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch format {
	case "tar":
	case "tar.gz":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("reading gzip %s: %w", filepath.Base(file), err)
		}
		defer gz.Close()
		r = gz
	case "tar.xz":
		xr, err := xz.NewReader(f)
		if err != nil {
			return fmt.Errorf("reading xz %s: %w", filepath.Base(file), err)
		}
		r = xr
	case "tar.zst":
		zr, err := zstd.NewReader(f)
		if err != nil {
			return fmt.Errorf("reading zstd %s: %w", filepath.Base(file), err)
		}
		defer zr.Close()
		r = zr
	default:
		return fmt.Errorf("unknown archive format %q", format)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar %s: %w", filepath.Base(file), err)
		}
		name, ok := cleanEntry(h.Name)
		if !ok {
			return fmt.Errorf("reading tar %s: unsafe member name %q", filepath.Base(file), h.Name)
		}
		if name == "" {
			continue
		}
		e := archiveEntry{name: name, mode: fs.FileMode(h.Mode) & 0o7777, linkname: h.Linkname}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			e.typ = tar.TypeReg
			e.open = func() (io.Reader, error) { return tr, nil }
		case tar.TypeDir:
			e.typ = tar.TypeDir
		case tar.TypeSymlink:
			e.typ = tar.TypeSymlink
		case tar.TypeLink:
			e.typ = tar.TypeLink
			if e.linkname, ok = cleanEntry(h.Linkname); !ok {
				return fmt.Errorf("reading tar %s: unsafe hard link %q", filepath.Base(file), h.Linkname)
			}
		default:
			continue // devices, fifos: never part of a release artefact we ship
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

func walkZip(file string, fn func(e archiveEntry) error) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return fmt.Errorf("reading zip %s: %w", filepath.Base(file), err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		name, ok := cleanEntry(zf.Name)
		if !ok {
			return fmt.Errorf("reading zip %s: unsafe member name %q", filepath.Base(file), zf.Name)
		}
		if name == "" {
			continue
		}
		m := zf.Mode()
		e := archiveEntry{name: name, mode: m.Perm()}
		switch {
		case m.IsDir():
			e.typ = tar.TypeDir
		case m&fs.ModeSymlink != 0:
			e.typ = tar.TypeSymlink
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("reading zip %s: %w", filepath.Base(file), err)
			}
			b, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return fmt.Errorf("reading zip %s: %w", filepath.Base(file), err)
			}
			e.linkname = string(b)
		default:
			e.typ = tar.TypeReg
			if e.mode == 0 {
				e.mode = 0o644
			}
			var rc io.ReadCloser
			e.open = func() (io.Reader, error) {
				var err error
				rc, err = zf.Open()
				return rc, err
			}
			err := fn(e)
			if rc != nil {
				rc.Close()
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// cleanEntry normalises an archive member name; ok is false when it would
// escape the extraction directory.
func cleanEntry(name string) (string, bool) {
	n := strings.TrimLeft(path.Clean("/"+strings.TrimPrefix(name, "./")), "/")
	if n == "." {
		n = ""
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false
		}
	}
	return n, true
}

// stripComponents drops n leading components; ok is false when nothing is
// left.
func stripComponents(name string, n int) (string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) <= n {
		return "", false
	}
	return strings.Join(parts[n:], "/"), true
}

// match returns the tree path for an archive member name.
func (m Member) match(name string, isDir bool) (string, bool) {
	src := m.Src
	switch {
	case src == "" || strings.HasSuffix(src, "/"):
		if src != "" && !strings.HasPrefix(name, src) {
			return "", false
		}
		return path.Join(m.Dest, strings.TrimPrefix(name, src)), true
	case isDir:
		return "", false
	case strings.ContainsAny(src, "*?["):
		var ok bool
		if strings.HasPrefix(src, "**/") {
			ok, _ = path.Match(strings.TrimPrefix(src, "**/"), path.Base(name))
		} else {
			ok, _ = path.Match(src, name)
		}
		if !ok {
			return "", false
		}
		return path.Join(m.Dest, path.Base(name)), true
	case name == src:
		if strings.HasSuffix(m.Dest, "/") {
			return path.Join(m.Dest, path.Base(name)), true
		}
		return m.Dest, true
	}
	return "", false
}

// extractMembers maps the archive's members into the tree dir per
// d.Members. Everything is written through an os.Root on dir and never
// through a symlink, so no member can reach outside it.
func extractMembers(file string, d Download, dir string) error {
	root, err := rootfs.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	used := make([]bool, len(d.Members))
	written := map[string]string{} // archive name -> tree path (for hard links)
	base := filepath.Base(file)
	err = walkArchive(file, d.Format, func(e archiveEntry) error {
		name, ok := stripComponents(e.name, d.Strip)
		if !ok {
			return nil
		}
		for i, m := range d.Members {
			dest, ok := m.match(name, e.typ == tar.TypeDir)
			if !ok {
				continue
			}
			if _, done := written["@"+dest]; done && e.typ != tar.TypeDir {
				break // first match wins for a destination
			}
			used[i] = true
			mode := e.mode
			if m.Mode != "" {
				mode, _ = parseMode(m.Mode)
			}
			if err := writeEntry(root, dest, e, mode, m.Replace, written); err != nil {
				return fmt.Errorf("extracting %s from %s: %w", e.name, base, err)
			}
			written[e.name] = dest
			written["@"+dest] = dest
			break
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, m := range d.Members {
		if !used[i] && !m.Optional {
			return fmt.Errorf("extracting %s: archive has no member %q (strip %d): did upstream change its layout?", base, m.Src, d.Strip)
		}
	}
	return nil
}

// extractAll unpacks the whole archive into dir (for install scripts),
// through an os.Root on dir.
func extractAll(file, format, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	root, err := rootfs.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	written := map[string]string{}
	return walkArchive(file, format, func(e archiveEntry) error {
		if err := writeEntry(root, e.name, e, e.mode, nil, written); err != nil {
			return fmt.Errorf("extracting %s from %s: %w", e.name, filepath.Base(file), err)
		}
		written[e.name] = e.name
		return nil
	})
}

// writeEntry writes one archive entry at dest inside root. Parents are
// created without going through symlinks; a hard link copies the content
// of the earlier entry it names, read without following a symlink that a
// later entry may have put in its place.
func writeEntry(root *os.Root, dest string, e archiveEntry, mode fs.FileMode, repl []Replacement, written map[string]string) error {
	if e.typ == tar.TypeDir {
		return rootfs.MkdirAll(root, dest)
	}
	switch e.typ {
	case tar.TypeSymlink:
		return rootfs.Symlink(root, e.linkname, dest)
	case tar.TypeLink:
		src, ok := written[e.linkname]
		if !ok {
			return fmt.Errorf("hard link to %q, which was not extracted", e.linkname)
		}
		if err := treeRealParent(root, src); err != nil {
			return fmt.Errorf("hard link to %q: %w", e.linkname, err)
		}
		if fi, err := root.Lstat(src); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("hard link to %q, which is now a symlink: refusing to copy through it", e.linkname)
		}
		in, err := rootfs.OpenRegular(root, src)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", e.linkname, err)
		}
		defer in.Close()
		return writeFile(root, dest, in, mode, repl)
	}
	r, err := e.open()
	if err != nil {
		return err
	}
	return writeFile(root, dest, r, mode, repl)
}

// writeFile writes r to rel inside root (replacing it) with mode, after
// applying the replacements.
func writeFile(root *os.Root, rel string, r io.Reader, mode fs.FileMode, repl []Replacement) error {
	if len(repl) > 0 {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		for _, x := range repl {
			data = bytes.ReplaceAll(data, []byte(x.From), []byte(x.To))
		}
		r = bytes.NewReader(data)
	}
	return rootfs.WriteFile(root, rel, r, mode)
}

// treeRealParent checks that no directory on the way to rel inside root
// is a symlink (an entry may have replaced one after rel was written).
func treeRealParent(root *os.Root, rel string) error {
	cur := ""
	for _, part := range strings.Split(path.Dir(rel), "/") {
		if part == "." || part == "" {
			continue
		}
		cur = path.Join(cur, part)
		fi, err := root.Lstat(cur)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symlink, not a directory: refusing to go through it", cur)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is a file, not a directory", cur)
		}
	}
	return nil
}
