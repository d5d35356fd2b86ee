package sysextbuild

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// stagedTree describes a staging copy made by stageTree.
type stagedTree struct {
	root     string
	paths    []string // every entry below root, slash-separated, parents first
	inodes   int64    // distinct inodes (hard links counted once), root included
	blocks   int64    // 4 KiB blocks the file data, symlinks and directories need
	dirBytes int64    // bytes of directory entries (ext2 layout), beyond one block per directory
	asRoot   bool     // owners were set to 0:0 (we run as root)
}

// stageTree copies the tree j.dir to dst (which must not exist) for the
// formats whose tools read a plain directory: file contents, modes
// (including setuid/setgid/sticky), symlinks and hard links are kept;
// extended attributes are dropped; the extension-release file is added
// (replacing the tree's own); owners are set to 0:0 when running as root;
// atime and mtime of everything are the epoch. Sockets, FIFOs and device
// nodes are refused. Regular files are copied with copy_file_range (a
// reflink on filesystems that support it).
func stageTree(ctx context.Context, j *packJob, dst string) (*stagedTree, error) {
	st := &stagedTree{root: dst, asRoot: os.Geteuid() == 0, inodes: 1, blocks: 1}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return nil, fmt.Errorf("creating staging directory: %w", err)
	}
	skip := filepath.Join(j.dir, filepath.FromSlash(ExtensionReleasePath(j.name)))
	type ino struct{ dev, ino uint64 }
	links := map[ino]string{}
	dirPerms := map[string]uint32{} // applied after the walk: a 0555 directory must stay writable while filled
	err := filepath.WalkDir(j.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == j.dir || p == skip {
			return nil
		}
		rel, err := filepath.Rel(j.dir, p)
		if err != nil {
			return err
		}
		if strings.Contains(rel, "\n") {
			return fmt.Errorf("unsupported file name %q (newline)", rel)
		}
		out := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := fi.Sys().(*syscall.Stat_t)
		perm := uint32(sys.Mode) & 0o7777
		switch {
		case fi.IsDir():
			if err := os.Mkdir(out, 0o700); err != nil {
				return err
			}
			dirPerms[out] = perm
			st.blocks++
		case fi.Mode().IsRegular():
			key := ino{uint64(sys.Dev), uint64(sys.Ino)}
			if first, ok := links[key]; ok && sys.Nlink > 1 {
				st.paths = append(st.paths, filepath.ToSlash(rel))
				st.dirBytes += int64(8+len(d.Name())+3) &^ 3
				return os.Link(first, out)
			}
			if sys.Nlink > 1 {
				links[key] = out
			}
			if err := copyFile(p, out); err != nil {
				return err
			}
			st.blocks += (fi.Size() + 4095) / 4096
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, out); err != nil {
				return err
			}
			st.blocks++
		default:
			return fmt.Errorf("unsupported file type %s of %s: only the squashfs format packs sockets, FIFOs and devices", fi.Mode().Type(), rel)
		}
		st.inodes++
		st.paths = append(st.paths, filepath.ToSlash(rel))
		st.dirBytes += int64(8+len(d.Name())+3) &^ 3
		if fi.Mode().IsRegular() {
			return unix.Chmod(out, perm)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staging a copy of %s: %w", j.dir, err)
	}
	// The extension-release file and its missing parents.
	rel := ExtensionReleasePath(j.name)
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		err := os.Mkdir(filepath.Join(dst, filepath.FromSlash(p)), 0o755)
		if err == nil {
			if err := os.Chmod(filepath.Join(dst, filepath.FromSlash(p)), 0o755); err != nil {
				return nil, err
			}
			st.paths = append(st.paths, p)
			st.inodes++
			st.blocks++
		} else if !os.IsExist(err) {
			return nil, fmt.Errorf("staging %s: %w", p, err)
		} else if fi, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(p))); err != nil || !fi.IsDir() {
			// Never follow a symlink of the tree out of the staging copy.
			return nil, fmt.Errorf("%s in sysext tree %s is not a directory: it must hold %s", p, j.dir, rel)
		}
	}
	out := filepath.Join(dst, filepath.FromSlash(rel))
	if err := os.WriteFile(out, j.release, 0o644); err != nil {
		return nil, fmt.Errorf("staging %s: %w", rel, err)
	}
	if err := os.Chmod(out, 0o644); err != nil {
		return nil, err
	}
	st.paths = append(st.paths, rel)
	st.inodes++
	st.blocks++
	for p, perm := range dirPerms {
		if err := unix.Chmod(p, perm); err != nil {
			return nil, fmt.Errorf("staging mode of %s: %w", p, err)
		}
	}
	// Owners and times, children before parents so directory times stick.
	ts := []unix.Timespec{{Sec: j.epoch}, {Sec: j.epoch}}
	all := append([]string{"."}, st.paths...)
	for i := len(all) - 1; i >= 0; i-- {
		p := filepath.Join(dst, filepath.FromSlash(all[i]))
		if st.asRoot {
			if err := os.Lchown(p, 0, 0); err != nil {
				return nil, fmt.Errorf("staging owner of %s: %w", all[i], err)
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("staging times of %s: %w", all[i], err)
		}
	}
	return st, nil
}

// copyFile copies a regular file's content (not its metadata).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
