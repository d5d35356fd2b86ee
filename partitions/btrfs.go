package partitions

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/internal/atomicfile"
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
	dirTree
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
	work, err := atomicfile.MkdirTemp(o.WorkDir, "btrfs")
	if err != nil {
		return nil, fmt.Errorf("creating btrfs work dir: %w", err)
	}
	tree := filepath.Join(work, "tree")
	b := &Btrfs{image: image, offset: offset, length: length, work: work, tree: tree,
		dirTree: dirTree{root: tree, mapsCaller: true}}
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
