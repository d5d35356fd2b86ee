package partitions

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/bake-os/bake-os/sparse"
)

// Btrfs edits a btrfs filesystem inside a partition by unpacking it into a
// directory and rebuilding it on Commit. It is meant for Flatcar's small
// OEM partition, whose whole content is a few files.
type Btrfs struct {
	image          string
	offset, length int64
	work           string // temp dir: part.img and tree/
	tree           string
	uuid, label    string
	mixed          bool
	dirty          bool
}

// BtrfsOptions tunes the btrfs editor.
type BtrfsOptions struct {
	// WorkDir holds the temporary partition copy and tree; default is the
	// image's directory (same filesystem, so copies stay sparse).
	WorkDir string
}

// OpenBtrfs unpacks the btrfs filesystem at [offset, offset+length) of
// image into a temp directory.
func OpenBtrfs(ctx context.Context, image string, offset, length int64, o BtrfsOptions) (_ *Btrfs, err error) {
	if o.WorkDir == "" {
		o.WorkDir = filepath.Dir(image)
	}
	work, err := os.MkdirTemp(o.WorkDir, ".bake-os-btrfs-")
	if err != nil {
		return nil, fmt.Errorf("creating btrfs work dir: %w", err)
	}
	b := &Btrfs{image: image, offset: offset, length: length, work: work, tree: filepath.Join(work, "tree")}
	defer func() {
		if err != nil {
			os.RemoveAll(work)
		}
	}()
	part := filepath.Join(work, "part.img")
	if err := b.copyOut(ctx, part); err != nil {
		return nil, err
	}
	out, err := runTool(ctx, "btrfs", "inspect-internal", "dump-super", part)
	if err != nil {
		return nil, fmt.Errorf("reading btrfs superblock at offset %d of %s: %w", offset, image, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 1 {
			continue
		}
		switch f[0] {
		case "fsid":
			if len(f) > 1 {
				b.uuid = f[1]
			}
		case "label":
			b.label = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "label"))
		}
		if strings.Contains(l, "MIXED_GROUPS") {
			b.mixed = true
		}
	}
	if b.uuid == "" {
		return nil, fmt.Errorf("no btrfs filesystem at offset %d of %s", offset, image)
	}
	if err := os.Mkdir(b.tree, 0o755); err != nil {
		return nil, err
	}
	if _, err := runTool(ctx, "btrfs", "restore", "-x", "-m", "-S", part, b.tree); err != nil {
		return nil, fmt.Errorf("unpacking btrfs at offset %d of %s: %w", offset, image, err)
	}
	if err := os.Remove(part); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Btrfs) copyOut(ctx context.Context, part string) error {
	src, err := os.Open(b.image)
	if err != nil {
		return fmt.Errorf("opening %s: %w", b.image, err)
	}
	defer src.Close()
	dst, err := os.Create(part)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := dst.Truncate(b.length); err != nil {
		return err
	}
	if err := sparse.CopyRange(ctx, dst, src, 0, b.offset, b.length, nil); err != nil {
		return fmt.Errorf("copying btrfs partition out of %s: %w", b.image, err)
	}
	return nil
}

// UUID is the filesystem UUID, kept across rebuilds.
func (b *Btrfs) UUID() string { return b.uuid }

// Label is the filesystem label, kept across rebuilds.
func (b *Btrfs) Label() string { return b.label }

func (b *Btrfs) local(p string) (string, error) {
	c := path.Clean("/" + p)
	if strings.Contains(c, "\x00") {
		return "", fmt.Errorf("invalid path %q", p)
	}
	return filepath.Join(b.tree, filepath.FromSlash(c)), nil
}

// MkdirAll implements Editor.
func (b *Btrfs) MkdirAll(p string, perm fs.FileMode) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	// Create one level at a time so every new directory gets perm and root.
	rel, _ := filepath.Rel(b.tree, l)
	cur := b.tree
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
		if err := os.Chmod(cur, perm); err != nil {
			return err
		}
		b.chownRoot(cur)
	}
	b.dirty = true
	return nil
}

// chownRoot makes a file root-owned when we can; as non-root the user
// namespace of the rebuild maps the caller to root instead.
func (b *Btrfs) chownRoot(l string) {
	if os.Geteuid() == 0 {
		os.Lchown(l, 0, 0)
	}
}

// WriteFile implements Editor.
func (b *Btrfs) WriteFile(p string, src io.Reader, perm fs.FileMode) error {
	if err := b.MkdirAll(path.Dir(path.Clean("/"+p)), 0o755); err != nil {
		return err
	}
	l, err := b.local(p)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(l); err == nil && fi.IsDir() {
		return fmt.Errorf("writing %s: it is a directory", p)
	}
	os.Remove(l)
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
	b.dirty = true
	return nil
}

// Symlink implements Editor.
func (b *Btrfs) Symlink(target, p string) error {
	if err := b.MkdirAll(path.Dir(path.Clean("/"+p)), 0o755); err != nil {
		return err
	}
	l, err := b.local(p)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(l); err == nil && fi.IsDir() {
		return fmt.Errorf("linking %s: it is a directory", p)
	}
	os.Remove(l)
	if err := os.Symlink(target, l); err != nil {
		return fmt.Errorf("linking %s: %w", p, err)
	}
	b.chownRoot(l)
	b.dirty = true
	return nil
}

// Chmod implements Editor.
func (b *Btrfs) Chmod(p string, perm fs.FileMode) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	b.dirty = true
	return os.Chmod(l, perm)
}

// Chown implements Editor.
func (b *Btrfs) Chown(p string, uid, gid int) error {
	l, err := b.local(p)
	if err != nil {
		return err
	}
	b.dirty = true
	if os.Geteuid() != 0 && uid == 0 && gid == 0 {
		return nil // the rebuild's user namespace maps the caller to root
	}
	return os.Lchown(l, uid, gid)
}

// Open implements Editor.
func (b *Btrfs) Open(p string) (io.ReadCloser, error) {
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

func (b *Btrfs) info(l, name string) (FileInfo, error) {
	fi, err := os.Lstat(l)
	if err != nil {
		return FileInfo{}, err
	}
	out := FileInfo{Name: name, Mode: fi.Mode(), Size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.UID, out.GID = int(st.Uid), int(st.Gid)
		if os.Geteuid() != 0 && out.UID == os.Geteuid() {
			out.UID, out.GID = 0, 0 // as recorded by the rebuild
		}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		out.LinkTarget, _ = os.Readlink(l)
	}
	return out, nil
}

// Stat implements Editor.
func (b *Btrfs) Stat(p string) (FileInfo, error) {
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
func (b *Btrfs) ReadDir(p string) ([]FileInfo, error) {
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

// FreeBytes implements Editor: the partition size less the tree's data and
// a metadata allowance (mixed block groups share space; mkfs needs headroom
// for its system chunk, superblock copies and metadata).
func (b *Btrfs) FreeBytes() (int64, error) {
	var used int64
	err := filepath.WalkDir(b.tree, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			used += (fi.Size() + 4095) / 4096 * 4096
		}
		used += 4096
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring btrfs tree: %w", err)
	}
	overhead := int64(32<<20) + b.length/64
	free := b.length - overhead - used
	if free < 0 {
		free = 0
	}
	return free, nil
}

// Commit rebuilds the filesystem from the tree with the same UUID, label
// and profile, and replaces the partition's bytes in the image (holes
// punched, data copied). The image is only touched once mkfs succeeded.
func (b *Btrfs) Commit(ctx context.Context) error {
	if !b.dirty {
		return nil
	}
	part := filepath.Join(b.work, "new.img")
	if err := os.WriteFile(part, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(part, b.length); err != nil {
		return err
	}
	args := []string{"-q", "-f", "--byte-count", fmt.Sprint(b.length), "-U", b.uuid, "--rootdir", b.tree}
	if b.label != "" {
		args = append(args, "--label", b.label)
	}
	if b.mixed {
		args = append(args, "--mixed", "-m", "single", "-d", "single")
	}
	args = append(args, part)
	if _, err := runTool(ctx, "mkfs.btrfs", args...); err != nil {
		return fmt.Errorf("rebuilding btrfs for %s: %w", b.image, err)
	}
	src, err := os.Open(part)
	if err != nil {
		return err
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || st.Size() != b.length {
		return fmt.Errorf("rebuilding btrfs for %s: mkfs.btrfs changed the partition file size", b.image)
	}
	dst, err := os.OpenFile(b.image, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", b.image, err)
	}
	defer dst.Close()
	if err := sparse.Replace(ctx, dst, src, b.offset, 0, b.length, nil); err != nil {
		return fmt.Errorf("writing rebuilt btrfs into %s: %w", b.image, err)
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	os.Remove(part)
	b.dirty = false
	return nil
}

// Close removes the work directory; uncommitted edits are dropped.
func (b *Btrfs) Close() error {
	if b.work == "" {
		return nil
	}
	err := os.RemoveAll(b.work)
	b.work = ""
	return err
}
