package partitions

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// dirTree implements the file operations of Editor on a local directory
// that stands for the filesystem's root: the btrfs editor's unpacked tree,
// or the mount point of the mount editor.
type dirTree struct {
	root  string
	dirty bool
	// mapsCaller: the tree is rebuilt in a user namespace mapping the
	// caller to root, so the caller's files count as root's.
	mapsCaller bool
	// onWrite, if set, is told of every path a write creates, replaces
	// or removes (files, symlinks, directories).
	onWrite func(p string)
}

func (b *dirTree) changed() { b.dirty = true }

func (b *dirTree) local(p string) (string, error) {
	c := path.Clean("/" + p)
	if strings.Contains(c, "\x00") {
		return "", fmt.Errorf("invalid path %q", p)
	}
	return filepath.Join(b.root, filepath.FromSlash(c)), nil
}

// MkdirAll implements Editor.
func (b *dirTree) MkdirAll(p string, perm fs.FileMode) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	// Create one level at a time so every new directory gets perm and root.
	rel, _ := filepath.Rel(b.root, l)
	cur := b.root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == "." || part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("making directory %s: %s is not a directory", p, cur)
			}
			continue
		}
		if err := os.Mkdir(cur, perm); err != nil {
			return fmt.Errorf("making directory %s: %w", p, err)
		}
		if b.onWrite != nil {
			r, _ := filepath.Rel(b.root, cur)
			b.onWrite("/" + filepath.ToSlash(r))
		}
		if err := os.Chmod(cur, perm); err != nil {
			return err
		}
		b.chownRoot(cur)
	}
	b.changed()
	return nil
}

// chownRoot makes a file root-owned when we can; as non-root the user
// namespace of the rebuild maps the caller to root instead.
func (b *dirTree) chownRoot(l string) {
	if os.Geteuid() == 0 {
		os.Lchown(l, 0, 0)
	}
}

// replaceable makes p's parents and removes a non-directory at p,
// returning p's local path.
func (b *dirTree) replaceable(verb, p string) (string, error) {
	if err := b.MkdirAll(path.Dir(path.Clean("/"+p)), 0o755); err != nil {
		return "", err
	}
	l, err := b.local(p)
	if err != nil {
		return "", err
	}
	if fi, err := os.Lstat(l); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%s %s: it is a directory", verb, p)
	}
	os.Remove(l)
	if b.onWrite != nil {
		b.onWrite(path.Clean("/" + p))
	}
	return l, nil
}

// WriteFile implements Editor.
func (b *dirTree) WriteFile(p string, src io.Reader, perm fs.FileMode) error {
	l, err := b.replaceable("writing", p)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(l, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Chmod(l, perm); err != nil {
		return err
	}
	b.chownRoot(l)
	b.changed()
	return nil
}

// Symlink implements Editor.
func (b *dirTree) Symlink(target, p string) error {
	l, err := b.replaceable("linking", p)
	if err != nil {
		return err
	}
	if err := os.Symlink(target, l); err != nil {
		return fmt.Errorf("linking %s: %w", p, err)
	}
	b.chownRoot(l)
	b.changed()
	return nil
}

// Remove implements Editor. It never follows a symlink: a parent that is
// one (the tree comes from an untrusted image) is an error.
func (b *dirTree) Remove(p string) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	c := path.Clean("/" + p)
	for d := path.Dir(c); d != "/"; d = path.Dir(d) {
		if fi, err := os.Lstat(filepath.Join(b.root, filepath.FromSlash(d))); err == nil && !fi.IsDir() {
			return fmt.Errorf("removing %s: %s is not a directory", p, d)
		}
	}
	if err := os.Remove(l); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	b.changed()
	if b.onWrite != nil {
		b.onWrite(c) // the path is gone: nothing of its inode to keep
	}
	return nil
}

// Chmod implements Editor.
func (b *dirTree) Chmod(p string, perm fs.FileMode) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	b.changed()
	return os.Chmod(l, perm)
}

// Chown implements Editor.
func (b *dirTree) Chown(p string, uid, gid int) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	b.changed()
	if b.mapsCaller && os.Geteuid() != 0 && uid == 0 && gid == 0 {
		return nil // the rebuild's user namespace maps the caller to root
	}
	return os.Lchown(l, uid, gid)
}

// Open implements Editor.
func (b *dirTree) Open(p string) (io.ReadCloser, error) {
	l, err := b.local(p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(l)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", p)
	}
	return os.Open(l)
}

func (b *dirTree) info(l, name string) (FileInfo, error) {
	fi, err := os.Lstat(l)
	if err != nil {
		return FileInfo{}, err
	}
	out := FileInfo{Name: name, Mode: fi.Mode(), Size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.UID, out.GID = int(st.Uid), int(st.Gid)
		if b.mapsCaller && os.Geteuid() != 0 && out.UID == os.Geteuid() {
			out.UID, out.GID = 0, 0 // as recorded by the rebuild
		}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		out.LinkTarget, _ = os.Readlink(l)
	}
	return out, nil
}

// Stat implements Editor.
func (b *dirTree) Stat(p string) (FileInfo, error) {
	l, err := b.local(p)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := b.info(l, path.Base(path.Clean("/"+p)))
	if err != nil {
		return FileInfo{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return fi, nil
}

// ReadDir implements Editor.
func (b *dirTree) ReadDir(p string) ([]FileInfo, error) {
	l, err := b.local(p)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(l)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", p, err)
	}
	var out []FileInfo
	for _, e := range ents {
		fi, err := b.info(filepath.Join(l, e.Name()), e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
