package rootfs

// Helpers shared by Flix, Flatwrap, OCI images and Torcx: resolving paths
// inside a root filesystem as if it were "/", and copying trees out of it.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrPathEscapes is returned when a path or a symlink inside a root
// filesystem would lead outside of it.
var ErrPathEscapes = errors.New("path escapes the root filesystem")

// maxLinks bounds symlink resolution like the kernel's MAXSYMLINKS.
const maxLinks = 40

// CleanArg checks a user-supplied absolute-or-relative path meant for
// a place inside a root filesystem: it must not contain ".." components.
// It returns the path relative to the root ("" for the root itself).
func CleanArg(p string) (string, error) {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("%q contains \"..\": %w", p, ErrPathEscapes)
		}
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	return rel, nil
}

// Resolve resolves rel (relative to the root, slash-separated)
// inside r the way the kernel would after chroot: absolute symlinks restart
// at the root, relative ones are taken from the link's directory. A
// symlink whose ".." climbs above the root is refused with ErrPathEscapes
// instead of being clamped. When followLast is false a final symlink is
// not followed. The result is a clean relative path (no leading slash, ""
// for the root); the file it names need not exist (missing components are
// kept literally). Links are read through r, so even a raced resolution
// cannot lead outside it.
func Resolve(r *os.Root, rel string, followLast bool) (string, error) {
	var cur []string
	todo := split(rel)
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
		name := strings.Join(next, "/")
		fi, err := r.Lstat(name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing or not a symlink: keep the name as it is.
			cur = next
			continue
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("resolving %q: too many levels of symbolic links", rel)
		}
		target, err := r.Readlink(name)
		if err != nil {
			return "", fmt.Errorf("reading link /%s: %w", name, err)
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		todo = append(split(target), todo...)
	}
	return strings.Join(cur, "/"), nil
}

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Copier copies files and trees out of a root filesystem, keeping
// modes, ownership (when allowed), symlinks and hardlinks between copied
// files.
type Copier struct {
	// OneFileSystem skips the contents of directories on other devices.
	OneFileSystem bool
	// Warn receives non-fatal problems (skipped special files).
	Warn func(string)

	links map[inode]string // first copy of each multiply-linked file
}

type inode struct{ dev, ino uint64 }

func (c *Copier) warn(format string, a ...any) {
	if c.Warn != nil {
		c.Warn(fmt.Sprintf(format, a...))
	}
}

// CopyTree copies srcRel of the tree src (a file, symlink or directory;
// symlinks are not followed) to dstRel of the tree dst, which must not
// exist yet unless both are directories. Both sides are accessed through
// their os.Root only: nothing is read from or written to outside them,
// and dstRel's parents are never symlinks.
func (c *Copier) CopyTree(src *os.Root, srcRel string, dst *os.Root, dstRel string) error {
	fi, err := src.Lstat(Name(srcRel))
	if err != nil {
		return fmt.Errorf("reading /%s: %w", srcRel, err)
	}
	var dev uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev = uint64(st.Dev)
	}
	if err := MkdirAll(dst, path.Dir(dstRel)); err != nil {
		return err
	}
	return c.copyEntry(src, srcRel, dst, dstRel, fi, dev)
}

func (c *Copier) copyEntry(src *os.Root, srcRel string, dst *os.Root, dstRel string, fi fs.FileInfo, rootDev uint64) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.IsDir():
		if err := MkdirAll(dst, dstRel); err != nil {
			return err
		}
		if c.OneFileSystem && st != nil && uint64(st.Dev) != rootDev {
			c.warn("skipping /%s: on another file system", srcRel)
		} else {
			d, err := src.OpenFile(Name(srcRel), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
			if err != nil {
				return fmt.Errorf("reading directory /%s: %w", srcRel, err)
			}
			ents, err := d.ReadDir(-1)
			d.Close()
			if err != nil {
				return fmt.Errorf("reading directory /%s: %w", srcRel, err)
			}
			sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
			for _, e := range ents {
				childSrc, childDst := path.Join(srcRel, e.Name()), path.Join(dstRel, e.Name())
				efi, err := src.Lstat(childSrc)
				if err != nil {
					return fmt.Errorf("reading /%s: %w", childSrc, err)
				}
				if err := c.copyEntry(src, childSrc, dst, childDst, efi, rootDev); err != nil {
					return err
				}
			}
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := src.Readlink(srcRel)
		if err != nil {
			return fmt.Errorf("reading link /%s: %w", srcRel, err)
		}
		if err := Symlink(dst, target, dstRel); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		if st != nil && st.Nlink > 1 {
			key := inode{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := c.links[key]; ok {
				_ = dst.RemoveAll(dstRel)
				if err := dst.Link(first, dstRel); err != nil {
					return fmt.Errorf("linking /%s: %w", dstRel, err)
				}
				return nil
			}
			if c.links == nil {
				c.links = map[inode]string{}
			}
			c.links[key] = dstRel
		}
		if err := CopyFile(src, srcRel, dst, dstRel, fi.Mode()); err != nil {
			return err
		}
	default:
		if err := copyNode(dst, dstRel, fi); err != nil {
			c.warn("skipping special file /%s: %v", srcRel, err)
			return nil
		}
	}
	chown(dst, dstRel, fi)
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := dst.Chmod(dstRel, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("setting mode of /%s: %w", dstRel, err)
		}
	}
	return nil
}

// CopyFile copies the regular file srcRel of src to dstRel of dst
// (replacing it) with mode.
func CopyFile(src *os.Root, srcRel string, dst *os.Root, dstRel string, mode fs.FileMode) error {
	in, err := OpenRegular(src, srcRel)
	if err != nil {
		return fmt.Errorf("opening /%s: %w", srcRel, err)
	}
	defer in.Close()
	if err := WriteFile(dst, dstRel, in, mode|0o200); err != nil {
		return fmt.Errorf("copying /%s: %w", srcRel, err)
	}
	if mode&0o200 == 0 {
		if err := dst.Chmod(dstRel, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("setting mode of /%s: %w", dstRel, err)
		}
	}
	return nil
}

// chown copies ownership when running with the privilege to do so.
func chown(dst *os.Root, dstRel string, fi fs.FileInfo) {
	if os.Geteuid() != 0 {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = dst.Lchown(dstRel, int(st.Uid), int(st.Gid))
	}
}

// copyNode recreates a device node, fifo or socket placeholder.
func copyNode(dst *os.Root, dstRel string, fi fs.FileInfo) error {
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
	_ = dst.RemoveAll(dstRel)
	return Mknod(dst, dstRel, mode|uint32(fi.Mode().Perm()), int(st.Rdev))
}

// SplitMapping parses "SRC" or "SRC:DEST" path arguments as Flix and
// Flatwrap take them. Without DEST, SRC must be under /usr; DEST must always
// be under /usr. Both are returned relative to their roots.
func SplitMapping(arg string) (src, dest string, err error) {
	s, d, found := strings.Cut(arg, ":")
	if !found {
		d = s
	}
	if src, err = CleanArg(s); err != nil {
		return "", "", err
	}
	if dest, err = CleanArg(d); err != nil {
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
