package sysextbuild

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

// extractMembers maps the archive's members into root per d.Members.
func extractMembers(file string, d Download, root string) error {
	used := make([]bool, len(d.Members))
	written := map[string]string{} // archive name -> tree path (for hard links)
	base := filepath.Base(file)
	err := walkArchive(file, d.Format, func(e archiveEntry) error {
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

// extractAll unpacks the whole archive into dir (for install scripts).
func extractAll(file, format, dir string) error {
	written := map[string]string{}
	return walkArchive(file, format, func(e archiveEntry) error {
		if err := writeEntry(dir, e.name, e, e.mode, nil, written); err != nil {
			return fmt.Errorf("extracting %s from %s: %w", e.name, filepath.Base(file), err)
		}
		written[e.name] = e.name
		return nil
	})
}

func writeEntry(root, dest string, e archiveEntry, mode fs.FileMode, repl []Replacement, written map[string]string) error {
	target := filepath.Join(root, filepath.FromSlash(dest))
	if e.typ == tar.TypeDir {
		return mkdirInTree(root, dest)
	}
	if err := mkdirInTree(root, path.Dir(dest)); err != nil {
		return err
	}
	if err := os.RemoveAll(target); err != nil {
		return err
	}
	switch e.typ {
	case tar.TypeSymlink:
		return os.Symlink(e.linkname, target)
	case tar.TypeLink:
		src, ok := written[e.linkname]
		if !ok {
			return fmt.Errorf("hard link to %q, which was not extracted", e.linkname)
		}
		in, err := os.Open(filepath.Join(root, filepath.FromSlash(src)))
		if err != nil {
			return err
		}
		defer in.Close()
		return writeFile(target, in, mode, repl)
	}
	r, err := e.open()
	if err != nil {
		return err
	}
	return writeFile(target, r, mode, repl)
}

func writeFile(target string, r io.Reader, mode fs.FileMode, repl []Replacement) error {
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
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}

// mkdirInTree creates root/rel like MkdirAll, refusing to go through a
// symlink (an archive could otherwise plant usr -> /etc and write through
// it onto the build host).
func mkdirInTree(root, rel string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	cur := root
	for _, part := range strings.Split(path.Clean(rel), "/") {
		if part == "." || part == "" {
			continue
		}
		if part == ".." {
			return fmt.Errorf("path %q leaves the tree", rel)
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("path %q goes through the symlink %s", rel, strings.TrimPrefix(cur, root+string(filepath.Separator)))
		case !fi.IsDir():
			return fmt.Errorf("path %q goes through the file %s", rel, strings.TrimPrefix(cur, root+string(filepath.Separator)))
		}
	}
	return nil
}
