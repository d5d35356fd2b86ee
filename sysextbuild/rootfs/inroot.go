package rootfs

// File operations under untrusted trees. Archives, container layers,
// Torcx tarballs and foreign root filesystems are hostile input: an entry
// or an earlier symlink (usr -> /somewhere, usr/lib -> ../../.., a hard
// link to /etc/passwd) must never make a later create, mkdir, rename,
// rewrite, chmod, chown, utimes, remove or read-for-copy touch a path
// outside the tree. Every such operation goes through an *os.Root, which
// the kernel keeps inside the directory (openat with checks on every
// component), so a path check that is wrong or raced can at worst fail,
// never escape. The few calls os.Root lacks (mknod, utimes of a symlink,
// xattrs) are made relative to a parent directory opened through the
// Root.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Open opens dir as the root of an untrusted tree.
func Open(dir string) (*os.Root, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening tree %s: %w", dir, err)
	}
	return r, nil
}

// Name turns a clean root-relative path ("" for the root itself) into
// a name os.Root accepts.
func Name(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// MkdirAll creates rel and its missing parents inside r with mode
// 0755, refusing to go through a symlink or a non-directory: in a tree
// being assembled from an archive a symlinked directory is never written
// through.
func MkdirAll(r *os.Root, rel string) error {
	cur := ""
	for _, part := range strings.Split(path.Clean(rel), "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			return fmt.Errorf("path %q: %w", rel, ErrPathEscapes)
		}
		cur = path.Join(cur, part)
		fi, err := r.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := r.Mkdir(cur, 0o755); err != nil {
				return fmt.Errorf("creating directory %s: %w", cur, err)
			}
		case err != nil:
			return fmt.Errorf("checking %s: %w", cur, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("path %q goes through the symlink %s: refusing to write through it", rel, cur)
		case !fi.IsDir():
			return fmt.Errorf("path %q goes through the file %s", rel, cur)
		}
	}
	return nil
}

// WriteFile writes src to rel inside r (replacing whatever is there,
// a symlink included, never following it) and sets mode. The parent
// directory is created without going through symlinks.
func WriteFile(r *os.Root, rel string, src io.Reader, mode fs.FileMode) error {
	if err := MkdirAll(r, path.Dir(rel)); err != nil {
		return err
	}
	if err := r.RemoveAll(rel); err != nil {
		return fmt.Errorf("replacing %s: %w", rel, err)
	}
	return CreateFile(r, rel, src, mode)
}

// CreateFile writes src to the new file rel inside r (it must not exist
// yet: a symlink there is an error, never followed) and sets mode.
func CreateFile(r *os.Root, rel string, src io.Reader, mode fs.FileMode) error {
	out, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", rel, err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	// fchmod on the descriptor we created: no path, nothing to follow.
	if err := out.Chmod(mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		out.Close()
		return fmt.Errorf("setting mode of %s: %w", rel, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	return nil
}

// Symlink replaces rel inside r with a symlink to target.
func Symlink(r *os.Root, target, rel string) error {
	if err := MkdirAll(r, path.Dir(rel)); err != nil {
		return err
	}
	if err := r.RemoveAll(rel); err != nil {
		return fmt.Errorf("replacing %s: %w", rel, err)
	}
	if err := r.Symlink(target, rel); err != nil {
		return fmt.Errorf("creating link %s: %w", rel, err)
	}
	return nil
}

// OpenRegular opens rel inside r for reading, refusing anything but a
// regular file; a final symlink is not followed.
func OpenRegular(r *os.Root, rel string) (*os.File, error) {
	f, err := r.OpenFile(Name(rel), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return f, nil
}

// at calls fn with a descriptor of rel's parent directory, opened
// inside r, and rel's last component, for the *at system calls os.Root
// has no method for.
func at(r *os.Root, rel string, fn func(dirfd int, base string) error) error {
	dir, base := path.Split(rel)
	d, err := r.Open(Name(strings.TrimSuffix(dir, "/")))
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(int(d.Fd()), base)
}

// Lsetxattr sets an extended attribute on rel itself (not following
// a final symlink) inside r.
func Lsetxattr(r *os.Root, rel, name string, value []byte) error {
	return at(r, rel, func(dirfd int, base string) error {
		// The /proc magic link is the directory we hold open; only the
		// last component is looked up, without following it.
		return unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, base), name, value, 0)
	})
}

// Lutimes sets the times of rel itself (not following a final
// symlink) inside r.
func Lutimes(r *os.Root, rel string, ts []unix.Timespec) error {
	return at(r, rel, func(dirfd int, base string) error {
		return unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Mknod creates a device node or fifo at rel inside r.
func Mknod(r *os.Root, rel string, mode uint32, dev int) error {
	return at(r, rel, func(dirfd int, base string) error {
		return unix.Mknodat(dirfd, base, mode, dev)
	})
}
