package sysextbuild

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
)

const (
	ociWhiteoutPrefix = ".wh."
	ociOpaqueMarker   = ".wh..wh..opq"
)

// ociApplier applies tar streams (image layers, Torcx tarballs) to Root.
type ociApplier struct {
	Root string
	// Whiteouts interprets .wh.NAME and .wh..wh..opq entries (image
	// layers); without it they are ordinary files.
	Whiteouts bool
	Warn      func(string)

	layer map[string]bool // paths (and their parents) written by this layer
}

func (a *ociApplier) warn(format string, args ...any) {
	if a.Warn != nil {
		a.Warn(fmt.Sprintf(format, args...))
	}
}

// ociEntryPath cleans a tar entry name to a root-relative path, refusing
// names that climb out with "..".
func ociEntryPath(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("archive entry %q: %w", name, ErrPathEscapes)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// Apply applies one tar stream (already decompressed) on top of Root.
func (a *ociApplier) Apply(ctx context.Context, r io.Reader) error {
	a.layer = map[string]bool{}
	type dirMode struct {
		host  string
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
		parent, err := rootfsResolve(a.Root, parentRel, true)
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
		host := rootfsHost(a.Root, target)
		if err := os.MkdirAll(rootfsHost(a.Root, parent), 0o755); err != nil {
			return fmt.Errorf("creating parent of %s: %w", target, err)
		}
		a.mark(target)
		if fi, err := os.Lstat(host); err == nil {
			if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
				if err := os.RemoveAll(host); err != nil {
					return fmt.Errorf("replacing %s: %w", target, err)
				}
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(host, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("creating directory %s: %w", target, err)
			}
			dirs = append(dirs, dirMode{host, hdr.FileInfo().Mode(), hdr.ModTime})
			a.chown(host, hdr)
			continue
		case tar.TypeReg, tar.TypeRegA:
			if err := ociWriteFile(host, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, host); err != nil {
				return fmt.Errorf("creating link %s: %w", target, err)
			}
		case tar.TypeLink:
			src, err := a.linkSource(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("hardlink %s: %w", target, err)
			}
			if err := os.Link(rootfsHost(a.Root, src), host); err != nil {
				return fmt.Errorf("creating hardlink %s to %s: %w", target, src, err)
			}
			continue // shares the inode: nothing more to set
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if err := ociMknod(host, hdr); err != nil {
				a.warn("skipping device or fifo /%s: %v", target, err)
				continue
			}
		default:
			a.warn("skipping /%s: unsupported archive entry type %q", target, hdr.Typeflag)
			continue
		}
		a.chown(host, hdr)
		a.xattrs(host, hdr)
		if hdr.Typeflag == tar.TypeSymlink {
			ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW)
			continue
		}
		if err := os.Chmod(host, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("setting mode of %s: %w", target, err)
		}
		if err := os.Chtimes(host, hdr.ModTime, hdr.ModTime); err != nil {
			return fmt.Errorf("setting time of %s: %w", target, err)
		}
	}
	// Directory modes and times last, deepest first, so that read-only
	// directories do not block their own entries.
	sort.SliceStable(dirs, func(i, j int) bool { return len(dirs[i].host) > len(dirs[j].host) })
	for _, d := range dirs {
		if err := os.Chmod(d.host, d.mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("setting mode of %s: %w", d.host, err)
		}
		_ = os.Chtimes(d.host, d.mtime, d.mtime)
	}
	return nil
}

// mark records that this layer wrote rel (and so its parents).
func (a *ociApplier) mark(rel string) {
	for rel != "" && rel != "." && !a.layer[rel] {
		a.layer[rel] = true
		rel = path.Dir(rel)
	}
}

// whiteout removes what lower layers had: one name, or with the opaque
// marker, everything in the directory that this layer did not write.
func (a *ociApplier) whiteout(parent, base string) error {
	if base == ociOpaqueMarker {
		ents, err := os.ReadDir(rootfsHost(a.Root, parent))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("reading %s for opaque whiteout: %w", parent, err)
		}
		for _, e := range ents {
			child := path.Join(parent, e.Name())
			if a.layer[child] {
				continue
			}
			if err := os.RemoveAll(rootfsHost(a.Root, child)); err != nil {
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
	if err := os.RemoveAll(rootfsHost(a.Root, victim)); err != nil {
		return fmt.Errorf("removing %s (whiteout): %w", victim, err)
	}
	return nil
}

// linkSource resolves a hardlink target inside the root (parents followed,
// the name itself not).
func (a *ociApplier) linkSource(name string) (string, error) {
	rel, err := ociEntryPath(name)
	if err != nil {
		return "", err
	}
	dir, base := path.Split(rel)
	parent, err := rootfsResolve(a.Root, dir, true)
	if err != nil {
		return "", err
	}
	return path.Join(parent, base), nil
}

func ociWriteFile(host string, r io.Reader) error {
	f, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", host, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", host, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", host, err)
	}
	return nil
}

func ociMknod(host string, hdr *tar.Header) error {
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
	return unix.Mknod(host, mode|uint32(hdr.Mode&0o7777), int(dev))
}

// chown applies the entry's owner when running as root.
func (a *ociApplier) chown(host string, hdr *tar.Header) {
	if os.Geteuid() == 0 {
		_ = os.Lchown(host, hdr.Uid, hdr.Gid)
	}
}

// xattrs applies extended attributes (such as file capabilities) when
// running as root.
func (a *ociApplier) xattrs(host string, hdr *tar.Header) {
	if os.Geteuid() != 0 {
		return
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(host, name, []byte(v), 0); err != nil {
			a.warn("dropping extended attribute %s of %s: %v", name, host, err)
		}
	}
}
