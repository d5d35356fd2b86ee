package oci

// Applying tar layers to a root filesystem directory: whiteouts, hardlinks,
// symlinks and devices, with every path resolved inside the root.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

const (
	ociWhiteoutPrefix = ".wh."
	ociOpaqueMarker   = ".wh..wh..opq"
)

// Applier applies tar streams (image layers, Torcx tarballs) to Root.
// Every entry's parent is resolved inside the root as the kernel would
// after chroot, and every file operation goes through Root, so no entry
// and no earlier symlink can make the applier touch anything outside it.
type Applier struct {
	Root *os.Root
	// Whiteouts interprets .wh.NAME and .wh..wh..opq entries (image
	// layers); without it they are ordinary files.
	Whiteouts bool
	Warn      func(string)

	layer map[string]bool // paths (and their parents) written by this layer
}

func (a *Applier) warn(format string, args ...any) {
	if a.Warn != nil {
		a.Warn(fmt.Sprintf(format, args...))
	}
}

// ociEntryPath cleans a tar entry name to a root-relative path, refusing
// names that climb out with "..".
func ociEntryPath(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("archive entry %q: %w", name, rootfs.ErrPathEscapes)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

const ociModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Apply applies one tar stream (already decompressed) on top of Root.
func (a *Applier) Apply(ctx context.Context, r io.Reader) error {
	a.layer = map[string]bool{}
	type dirMode struct {
		rel   string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMode
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		rel, err := ociEntryPath(hdr.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue // the root directory itself
		}
		parentRel, base := path.Split(rel)
		parent, err := rootfs.Resolve(a.Root, parentRel, true)
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
		if a.Whiteouts && strings.HasPrefix(base, ociWhiteoutPrefix) {
			if err := a.whiteout(parent, base); err != nil {
				return err
			}
			continue
		}
		target := path.Join(parent, base)
		if err := rootfs.MkdirAll(a.Root, parent); err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
		a.mark(target)
		if fi, err := a.Root.Lstat(target); err == nil {
			if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
				if err := a.Root.RemoveAll(target); err != nil {
					return fmt.Errorf("replacing %s: %w", target, err)
				}
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := a.Root.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("creating directory %s: %w", target, err)
			}
			dirs = append(dirs, dirMode{target, hdr.FileInfo().Mode(), hdr.ModTime})
			a.chown(target, hdr)
			continue
		case tar.TypeReg, tar.TypeRegA:
			if err := rootfs.CreateFile(a.Root, target, tr, 0o600); err != nil { // the mode is set below, after chown
				return err
			}
		case tar.TypeSymlink:
			if err := a.Root.Symlink(hdr.Linkname, target); err != nil {
				return fmt.Errorf("creating link %s: %w", target, err)
			}
		case tar.TypeLink:
			src, err := a.linkSource(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("hardlink %s: %w", target, err)
			}
			if err := a.Root.Link(src, target); err != nil {
				return fmt.Errorf("creating hardlink %s to %s: %w", target, src, err)
			}
			continue // shares the inode: nothing more to set
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if err := ociMknod(a.Root, target, hdr); err != nil {
				a.warn("skipping device or fifo /%s: %v", target, err)
				continue
			}
		default:
			a.warn("skipping /%s: unsupported archive entry type %q", target, hdr.Typeflag)
			continue
		}
		a.chown(target, hdr)
		a.xattrs(target, hdr)
		if hdr.Typeflag == tar.TypeSymlink {
			ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
			_ = rootfs.Lutimes(a.Root, target, ts)
			continue
		}
		if err := a.Root.Chmod(target, hdr.FileInfo().Mode()&ociModeBits); err != nil {
			return fmt.Errorf("setting mode of %s: %w", target, err)
		}
		if err := a.Root.Chtimes(target, hdr.ModTime, hdr.ModTime); err != nil {
			return fmt.Errorf("setting time of %s: %w", target, err)
		}
	}
	// Directory modes and times last, deepest first, so that read-only
	// directories do not block their own entries. A directory that a
	// later entry replaced (by a symlink, say) is left alone.
	sort.SliceStable(dirs, func(i, j int) bool { return len(dirs[i].rel) > len(dirs[j].rel) })
	for _, d := range dirs {
		if fi, err := a.Root.Lstat(d.rel); err != nil || !fi.IsDir() {
			continue
		}
		if err := a.Root.Chmod(d.rel, d.mode&ociModeBits); err != nil {
			return fmt.Errorf("setting mode of %s: %w", d.rel, err)
		}
		_ = a.Root.Chtimes(d.rel, d.mtime, d.mtime)
	}
	return nil
}

// mark records that this layer wrote rel (and so its parents).
func (a *Applier) mark(rel string) {
	for rel != "" && rel != "." && !a.layer[rel] {
		a.layer[rel] = true
		rel = path.Dir(rel)
	}
}

// whiteout removes what lower layers had: one name, or with the opaque
// marker, everything in the directory that this layer did not write.
// parent is already resolved inside the root; removal never follows a
// symlink (a whited-out symlinked directory loses the link, not what it
// points to).
func (a *Applier) whiteout(parent, base string) error {
	if base == ociOpaqueMarker {
		fi, err := a.Root.Lstat(rootfs.Name(parent))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading %s for opaque whiteout: %w", parent, err)
		}
		if !fi.IsDir() {
			return nil
		}
		d, err := a.Root.OpenFile(rootfs.Name(parent), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("reading %s for opaque whiteout: %w", parent, err)
		}
		ents, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return fmt.Errorf("reading %s for opaque whiteout: %w", parent, err)
		}
		for _, e := range ents {
			child := path.Join(parent, e.Name())
			if a.layer[child] {
				continue
			}
			if err := a.Root.RemoveAll(child); err != nil {
				return fmt.Errorf("removing %s (opaque whiteout): %w", child, err)
			}
		}
		a.mark(parent)
		return nil
	}
	name := strings.TrimPrefix(base, ociWhiteoutPrefix)
	if name == "" || name == "." {
		return fmt.Errorf("invalid whiteout %s/%s", parent, base)
	}
	victim := path.Join(parent, name)
	if err := a.Root.RemoveAll(victim); err != nil {
		return fmt.Errorf("removing %s (whiteout): %w", victim, err)
	}
	return nil
}

// linkSource resolves a hardlink target inside the root (parents followed,
// the name itself not).
func (a *Applier) linkSource(name string) (string, error) {
	rel, err := ociEntryPath(name)
	if err != nil {
		return "", err
	}
	dir, base := path.Split(rel)
	parent, err := rootfs.Resolve(a.Root, dir, true)
	if err != nil {
		return "", err
	}
	return path.Join(parent, base), nil
}

func ociMknod(r *os.Root, rel string, hdr *tar.Header) error {
	var mode uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	default:
		mode = unix.S_IFIFO
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	return rootfs.Mknod(r, rel, mode|uint32(hdr.Mode&0o7777), int(dev))
}

// chown applies the entry's owner when running as root.
func (a *Applier) chown(rel string, hdr *tar.Header) {
	if os.Geteuid() == 0 {
		_ = a.Root.Lchown(rel, hdr.Uid, hdr.Gid)
	}
}

// xattrs applies extended attributes (such as file capabilities) when
// running as root.
func (a *Applier) xattrs(rel string, hdr *tar.Header) {
	if os.Geteuid() != 0 {
		return
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := rootfs.Lsetxattr(a.Root, rel, name, []byte(v)); err != nil {
			a.warn("dropping extended attribute %s of /%s: %v", name, rel, err)
		}
	}
}
