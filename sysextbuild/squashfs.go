package sysextbuild

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// writeSquashfs packs the tree in place with mksquashfs, on all cores,
// without copying it: ownership comes from -all-root, every timestamp
// from -all-time/-mkfs-time, and the extension-release file (with any
// missing parent directories) from pseudo-file definitions. A file already
// at that path in the tree is excluded so the generated one wins.
func writeSquashfs(ctx context.Context, j *packJob) error {
	relFile := filepath.Join(j.scratch, "extension-release")
	if err := os.WriteFile(relFile, j.release, 0o644); err != nil {
		return fmt.Errorf("writing extension-release: %w", err)
	}
	epoch := strconv.FormatInt(j.epoch, 10)
	args := []string{j.dir, j.out,
		"-noappend", "-reproducible", "-all-root", "-no-xattrs",
		"-mkfs-time", epoch, "-all-time", epoch, "-root-mode", "0755",
		"-quiet", "-no-progress",
	}
	defs, exclude, err := squashfsPseudo(j.dir, ExtensionReleasePath(j.name), relFile)
	if err != nil {
		return err
	}
	for _, d := range defs {
		args = append(args, "-p", d)
	}
	if exclude != "" {
		ef := filepath.Join(j.scratch, "exclude")
		if err := os.WriteFile(ef, []byte(exclude+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing mksquashfs exclude file: %w", err)
		}
		args = append(args, "-ef", ef)
	}
	_, stderr, err := runTool(ctx, nil, nil, "mksquashfs", args...)
	if err != nil {
		return err
	}
	// The tree was checked before; this catches a file that became
	// unreadable meanwhile.
	if l := squashfsSkipped(stderr); l != "" {
		return fmt.Errorf("mksquashfs could not read part of the tree: %s", l)
	}
	return nil
}

// squashfsSkipped returns the first line of mksquashfs's stderr that says
// it left something out: it exits 0 after storing an unreadable file as
// an empty one ("Failed to read file X, creating empty file") or skipping
// an unreadable directory ("Could not open X, skipping...").
func squashfsSkipped(stderr []byte) string {
	for _, l := range strings.Split(string(stderr), "\n") {
		if strings.Contains(l, "Failed to read file") || strings.Contains(l, "Could not open") || strings.Contains(l, ", skipping") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// squashfsPseudo returns the pseudo definitions that add file rel (a
// slash path inside the image) with the content of src, creating missing
// parent directories 0755, and the tree path to exclude when rel exists.
func squashfsPseudo(dir, rel, src string) (defs []string, exclude string, err error) {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		p := path.Join(parts[:i]...)
		st, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			defs = append(defs, p+" d 0755 0 0")
		case err != nil:
			return nil, "", fmt.Errorf("checking %s in tree: %w", p, err)
		case !st.IsDir():
			return nil, "", fmt.Errorf("%s in sysext tree %s is not a directory: it must hold %s", p, dir, rel)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
		exclude = rel
	}
	defs = append(defs, rel+" f 0644 0 0 cat "+sqShellQuote(src))
	return defs, exclude, nil
}

// sqShellQuote single-quotes s for /bin/sh.
func sqShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
