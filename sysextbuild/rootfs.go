package sysextbuild

// Helpers shared by Flix, Flatwrap, OCIRootfs and Torcx: resolving paths
// inside a root filesystem as if it were "/", and copying trees out of it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrPathEscapes is returned when a path or a symlink inside a root
// filesystem would lead outside of it.
var ErrPathEscapes = errors.New("path escapes the root filesystem")

// rootfsMaxLinks bounds symlink resolution like the kernel's MAXSYMLINKS.
const rootfsMaxLinks = 40

// rootfsCleanArg checks a user-supplied absolute-or-relative path meant for
// a place inside a root filesystem: it must not contain ".." components.
// It returns the path relative to the root ("" for the root itself).
func rootfsCleanArg(p string) (string, error) {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("%q contains \"..\": %w", p, ErrPathEscapes)
		}
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	return rel, nil
}

// rootfsResolve resolves rel (relative to root, slash-separated) inside root
// the way the kernel would after chroot(root): absolute symlinks restart at
// root, relative ones are taken from the link's directory. A symlink whose
// ".." climbs above root is refused with ErrPathEscapes instead of being
// clamped. When followLast is false a final symlink is not followed. The
// result is a clean relative path (no leading slash, "" for root); the
// file it names need not exist (missing components are kept literally).
func rootfsResolve(root, rel string, followLast bool) (string, error) {
	var cur []string
	todo := rootfsSplit(rel)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", fmt.Errorf("resolving %q: %w", rel, ErrPathEscapes)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], c)
		if len(todo) == 0 && !followLast {
			cur = next
			break
		}
		host := filepath.Join(root, filepath.FromSlash(strings.Join(next, "/")))
		fi, err := os.Lstat(host)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing or not a symlink: keep the name as it is.
			cur = next
			continue
		}
		links++
		if links > rootfsMaxLinks {
			return "", fmt.Errorf("resolving %q: too many levels of symbolic links", rel)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", fmt.Errorf("reading link %s: %w", host, err)
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		todo = append(rootfsSplit(target), todo...)
	}
	return strings.Join(cur, "/"), nil
}

func rootfsSplit(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// rootfsHost turns a root-relative path into a host path.
func rootfsHost(root, rel string) string {
	return filepath.Join(root, filepath.FromSlash(rel))
}

// rootfsCopier copies files and trees out of a root filesystem, keeping
// modes, ownership (when allowed), symlinks and hardlinks between copied
// files.
type rootfsCopier struct {
	// OneFileSystem skips the contents of directories on other devices.
	OneFileSystem bool
	// Warn receives non-fatal problems (skipped special files).
	Warn func(string)

	links map[rootfsInode]string // first copy of each multiply-linked file
}

type rootfsInode struct{ dev, ino uint64 }

func (c *rootfsCopier) warn(format string, a ...any) {
	if c.Warn != nil {
		c.Warn(fmt.Sprintf(format, a...))
	}
}

// CopyTree copies src (a file, symlink or directory; symlinks are not
// followed) to dst, which must not exist yet unless both are directories.
func (c *rootfsCopier) CopyTree(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	var dev uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev = uint64(st.Dev)
	}
	return c.copyEntry(src, dst, fi, dev)
}

func (c *rootfsCopier) copyEntry(src, dst string, fi fs.FileInfo, rootDev uint64) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.IsDir():
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("creating directory %s: %w", dst, err)
		}
		if c.OneFileSystem && st != nil && uint64(st.Dev) != rootDev {
			c.warn("skipping %s: on another file system", src)
		} else {
			ents, err := os.ReadDir(src)
			if err != nil {
				return fmt.Errorf("reading directory %s: %w", src, err)
			}
			for _, e := range ents {
				efi, err := e.Info()
				if err != nil {
					return fmt.Errorf("reading %s: %w", filepath.Join(src, e.Name()), err)
				}
				if err := c.copyEntry(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), efi, rootDev); err != nil {
					return err
				}
			}
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("reading link %s: %w", src, err)
		}
		_ = os.Remove(dst)
		if err := os.Symlink(target, dst); err != nil {
			return fmt.Errorf("creating link %s: %w", dst, err)
		}
	case fi.Mode().IsRegular():
		if st != nil && st.Nlink > 1 {
			key := rootfsInode{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := c.links[key]; ok {
				_ = os.Remove(dst)
				if err := os.Link(first, dst); err != nil {
					return fmt.Errorf("linking %s: %w", dst, err)
				}
				return nil
			}
			if c.links == nil {
				c.links = map[rootfsInode]string{}
			}
			c.links[key] = dst
		}
		if err := rootfsCopyFile(src, dst, fi.Mode().Perm()); err != nil {
			return err
		}
	default:
		if err := rootfsMknod(dst, fi); err != nil {
			c.warn("skipping special file %s: %v", src, err)
			return nil
		}
	}
	rootfsChown(dst, fi)
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := os.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("setting mode of %s: %w", dst, err)
		}
	}
	return nil
}

// rootfsCopyFile copies a regular file's data (replacing dst).
func rootfsCopyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o200)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

// rootfsChown copies ownership when running with the privilege to do so.
func rootfsChown(dst string, fi fs.FileInfo) {
	if os.Geteuid() != 0 {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
}

// rootfsMknod recreates a device node, fifo or socket placeholder.
func rootfsMknod(dst string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("no stat information")
	}
	var mode uint32
	switch {
	case fi.Mode()&fs.ModeCharDevice != 0:
		mode = unix.S_IFCHR
	case fi.Mode()&fs.ModeDevice != 0:
		mode = unix.S_IFBLK
	case fi.Mode()&fs.ModeNamedPipe != 0:
		mode = unix.S_IFIFO
	default:
		return fmt.Errorf("unsupported file type %v", fi.Mode().Type())
	}
	_ = os.Remove(dst)
	return unix.Mknod(dst, mode|uint32(fi.Mode().Perm()), int(st.Rdev))
}

// rootfsCheckName validates an extension name used as a path component.
func rootfsCheckName(name string) error { return validExtName(name) }

// rootfsSplitMapping parses "SRC" or "SRC:DEST" path arguments as Flix and
// Flatwrap take them. Without DEST, SRC must be under /usr; DEST must always
// be under /usr. Both are returned relative to their roots.
func rootfsSplitMapping(arg string) (src, dest string, err error) {
	s, d, found := strings.Cut(arg, ":")
	if !found {
		d = s
	}
	if src, err = rootfsCleanArg(s); err != nil {
		return "", "", err
	}
	if dest, err = rootfsCleanArg(d); err != nil {
		return "", "", err
	}
	if src == "" || !strings.HasPrefix(dest, "usr/") {
		if found {
			return "", "", fmt.Errorf("path %q: the target after ':' must be under /usr, e.g. /bin/foo:/usr/bin/foo", arg)
		}
		return "", "", fmt.Errorf("path %q is outside /usr: pass it as SRC:/usr/TARGET, e.g. /bin/foo:/usr/bin/foo", arg)
	}
	return src, dest, nil
}

// rootfsBuildAndPack builds a tree with build and packs it as extension
// name. The tree is built in a temporary directory beside the output and
// removed afterwards, unless keep: then it stays as NAME beside the output
// (which must not exist yet).
func rootfsBuildAndPack(ctx context.Context, name string, keep bool, pack PackOptions, build func(dst string) error) (*PackResult, error) {
	if err := rootfsCheckName(name); err != nil {
		return nil, err
	}
	pack.Name = name
	if pack.Output == "" {
		pack.Output = filepath.Join(pack.OutputDir, name+".raw")
	}
	outDir := filepath.Dir(pack.Output)
	var dst string
	if keep {
		dst = filepath.Join(outDir, name)
		if _, err := os.Lstat(dst); err == nil {
			return nil, fmt.Errorf("tree directory %s already exists: remove it or drop the keep option", dst)
		}
	} else {
		tmp, err := os.MkdirTemp(outDir, "."+name+".tree-*")
		if err != nil {
			return nil, fmt.Errorf("creating temporary tree directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dst = filepath.Join(tmp, name)
	}
	if err := build(dst); err != nil {
		if keep {
			_ = os.RemoveAll(dst)
		}
		return nil, err
	}
	pack.Dir = dst
	res, err := Pack(ctx, pack)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", name, err)
	}
	return res, nil
}
