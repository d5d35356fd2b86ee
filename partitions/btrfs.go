package partitions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/btrfsfix"
)

// Btrfs edits a btrfs filesystem inside a partition by unpacking it into a
// directory and rebuilding it on Commit. It is meant for Flatcar's small
// OEM partition, whose whole content is a few files.
//
// What the rebuild keeps and what it cannot keep is decided per property
// (see the package documentation): it refuses to commit when the
// filesystem holds something it would drop (Refusal), and reports what it
// changes on the way (Lost) through the logger and to the caller.
type Btrfs struct {
	image          string
	offset, length int64
	work           string // temp dir: part.img and tree/
	tree           string
	uuid, label    string
	mixed          bool
	epoch          int64
	log            *slog.Logger
	ids            btrfsfix.IDs
	patches        map[string]btrfsfix.InodePatch // by path, applied after mkfs
	lost           []string
	refusal        error
	dirTree
}

// BtrfsOptions tunes the btrfs editor.
type BtrfsOptions struct {
	// WorkDir holds the temporary partition copy and tree; default is the
	// image's directory (same filesystem, so copies stay sparse).
	WorkDir string
	// Epoch (SOURCE_DATE_EPOCH; 0: none) is the time of everything the
	// rebuild itself dates: every ctime, and the times of entries the
	// edit writes (later times are clamped to it); untouched entries keep
	// their atime, mtime and otime. With it the rebuild is
	// byte-reproducible.
	Epoch int64
	// Logger receives a warning per property the rebuild cannot keep.
	Logger *slog.Logger
}

// OpenBtrfs unpacks the btrfs filesystem at [offset, offset+length) of
// image into a temp directory.
func OpenBtrfs(ctx context.Context, image string, offset, length int64, o BtrfsOptions) (_ *Btrfs, err error) {
	if o.WorkDir == "" {
		o.WorkDir = filepath.Dir(image)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	work, err := atomicfile.MkdirTemp(o.WorkDir, "btrfs")
	if err != nil {
		return nil, fmt.Errorf("creating btrfs work dir: %w", err)
	}
	tree := filepath.Join(work, "tree")
	b := &Btrfs{image: image, offset: offset, length: length, work: work, tree: tree,
		epoch: o.Epoch, log: o.Logger, patches: map[string]btrfsfix.InodePatch{},
		dirTree: dirTree{root: tree, mapsCaller: true}}
	b.dirTree.onWrite = b.written
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
	contents, err := btrfsfix.Scan(part)
	if err != nil {
		return nil, fmt.Errorf("reading btrfs at offset %d of %s: %w", offset, image, err)
	}
	b.ids = contents.IDs
	// An original without a subvolume UUID (older mkfs.btrfs) gets one
	// derived from its filesystem UUID, not mkfs.btrfs's random one.
	derived := btrfsfix.DerivedIDs(contents.FSID)
	for _, p := range []struct{ dst, src *[16]byte }{{&b.ids.Dev, &derived.Dev}, {&b.ids.ChunkTree, &derived.ChunkTree}, {&b.ids.FSTree, &derived.FSTree}} {
		if *p.dst == ([16]byte{}) {
			*p.dst = *p.src
		}
	}
	if err := os.Mkdir(b.tree, 0o755); err != nil {
		return nil, err
	}
	// restore -x sets xattrs, -m owners, modes and times, -S symlinks. It
	// reports xattrs the staging filesystem cannot hold (btrfs.*) as
	// errors yet carries on; those are accounted for by plan.
	b.refusal = refusals(contents, os.Geteuid() == 0)
	if _, err := runTool(ctx, "btrfs", "restore", "-x", "-m", "-S", part, b.tree); err != nil {
		if b.refusal != nil {
			// As non-root restore fails on what we refuse anyway: say why.
			return nil, fmt.Errorf("unpacking btrfs at offset %d of %s: %w", offset, image, b.refusal)
		}
		return nil, fmt.Errorf("unpacking btrfs at offset %d of %s: %w", offset, image, err)
	}
	if err := os.Remove(part); err != nil {
		return nil, err
	}
	if err := b.plan(contents); err != nil {
		return nil, fmt.Errorf("unpacking btrfs at offset %d of %s: %w", offset, image, err)
	}
	return b, nil
}

// written forgets the original inode of a path the edit creates or
// replaces, and the original mtime of its directory.
func (b *Btrfs) written(p string) {
	delete(b.patches, p)
	dir := path.Dir(p)
	if pt, ok := b.patches[dir]; ok {
		pt.SetMtime = false
		b.patches[dir] = pt
	}
}

// Inode flags (btrfs_inode.h) the rebuild must not copy: mkfs writes
// checksummed, copy-on-write data, and PREALLOC is bookkeeping.
const (
	flagNoDataSum = 1 << 0
	flagNoDataCOW = 1 << 1
	flagPrealloc  = 1 << 7
	flagCompress  = 1 << 11
)

// plan completes the unpacked tree with what btrfs restore leaves out
// (hardlinks, FIFOs, sockets, device nodes) and decides, per property the
// rebuild cannot keep, whether to refuse the commit or to report it.
func (b *Btrfs) plan(c *btrfsfix.Contents) error {
	root := os.Geteuid() == 0
	var compressed, holes, nocow, btrfsXattr, specialXattr, sockets, rootXattr []string
	for _, in := range c.Inodes {
		if len(in.Paths) == 0 {
			continue // orphan or the root's own entry
		}
		p := in.Paths[0]
		typ := in.Mode & unix.S_IFMT
		if typ == unix.S_IFSOCK {
			sockets = append(sockets, in.Paths...)
			continue
		}
		if in.Compressed || in.Flags&flagCompress != 0 {
			compressed = append(compressed, p)
		}
		if in.HoleBytes > 0 {
			holes = append(holes, fmt.Sprintf("%s (%d bytes)", p, in.HoleBytes))
		}
		if in.Flags&(flagNoDataSum|flagNoDataCOW) != 0 {
			nocow = append(nocow, p)
		}
		for _, x := range in.Xattrs {
			if strings.HasPrefix(x, "btrfs.") {
				btrfsXattr = append(btrfsXattr, p+" "+x)
			} else if typ != unix.S_IFREG && typ != unix.S_IFDIR {
				specialXattr = append(specialXattr, p+" "+x)
			}
		}
		keep := in.Flags &^ (flagNoDataSum | flagNoDataCOW | flagPrealloc)
		for _, q := range in.Paths {
			pt := b.patches[q]
			pt.Flags, pt.SetFlags = keep, keep != 0
			// The original times are set back after mkfs, which
			// keeps none but mtime, and a clamping epoch would change
			// mtimes newer than it. Entries the edit writes lose their
			// patch, directories it changes their mtime (written).
			pt.Atime, pt.Mtime, pt.Otime, pt.SetTimes, pt.SetMtime = in.Atime, in.Mtime, in.Otime, true, true
			if q == "/" {
				// mkfs.btrfs makes the root directory itself, and
				// restore gives it nothing: its mode and owner are
				// written back; its xattrs cannot be.
				pt.Mode, pt.SetMode = in.Mode, true
				pt.UID, pt.GID, pt.SetOwner = in.UID, in.GID, true
				for _, x := range in.Xattrs {
					if !strings.HasPrefix(x, "btrfs.") {
						rootXattr = append(rootXattr, x)
					}
				}
			}
			b.patches[q] = pt
		}
		switch typ {
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
			if (typ == unix.S_IFCHR || typ == unix.S_IFBLK) && !root {
				continue // refused
			}
			if err := b.mknod(in); err != nil {
				return err
			}
		case unix.S_IFREG, unix.S_IFDIR:
			// restore sets the mode before the owner, and chown clears
			// set-id bits: set the mode again.
			if in.Mode&0o7000 != 0 {
				l, err := b.localUnder(p)
				if err != nil {
					return err
				}
				if err := unix.Fchmodat(unix.AT_FDCWD, l, in.Mode&0o7777, 0); err != nil {
					return fmt.Errorf("restoring the mode of %s: %w", p, err)
				}
			}
			if typ == unix.S_IFREG && len(in.Paths) > 1 {
				if err := b.relink(in); err != nil {
					return err
				}
			}
		}
	}
	if len(compressed) > 0 || len(btrfsXattr) > 0 {
		b.lost = append(b.lost, fmt.Sprintf("compression: the rootless OEM rebuild stores file data uncompressed (%s) and drops btrfs properties (%s); inode COMPRESS flags are kept; use --mount (root) to keep compression",
			list(compressed), list(btrfsXattr)))
	}
	if len(holes) > 0 {
		b.lost = append(b.lost, fmt.Sprintf("sparse files: mkfs.btrfs --rootdir writes holes as zeros in %s; use --mount (root) to keep them sparse", list(holes)))
	}
	if len(nocow) > 0 {
		b.lost = append(b.lost, fmt.Sprintf("nodatacow/nodatasum: the rebuild stores %s copy-on-write with checksums; use --mount (root) to keep the flags", list(nocow)))
	}
	if len(rootXattr) > 0 {
		b.lost = append(b.lost, fmt.Sprintf("xattrs of the root directory: mkfs.btrfs --rootdir makes / itself, so %s are dropped; use --mount (root) to keep them", list(rootXattr)))
	}
	if len(sockets) > 0 {
		b.lost = append(b.lost, fmt.Sprintf("sockets: %s are not kept (a socket file means nothing once its server is gone, and the rebuild's copy skips them); use --mount (root) to keep them", list(sockets)))
	}
	if len(specialXattr) > 0 {
		b.lost = append(b.lost, fmt.Sprintf("xattrs of special files: btrfs restore does not read them, so %s are dropped; use --mount (root) to keep them", list(specialXattr)))
	}
	return nil
}

// refusals names what the rebuild cannot recreate at all: subvolumes,
// and as non-root (in a user namespace that maps only the caller) device
// nodes, other owners and xattrs only root may set.
func refusals(c *btrfsfix.Contents, root bool) error {
	var refuse []string
	if len(c.Subvolumes) > 0 {
		refuse = append(refuse, fmt.Sprintf("it holds %d btrfs subvolume(s) or snapshot(s), which mkfs.btrfs --rootdir cannot recreate", len(c.Subvolumes)))
	}
	for _, in := range c.Inodes {
		if root || len(in.Paths) == 0 {
			continue
		}
		p := in.Paths[0]
		if in.UID != 0 || in.GID != 0 {
			refuse = append(refuse, fmt.Sprintf("%s is owned by %d:%d, which a rebuild as non-root can only record as root", p, in.UID, in.GID))
		}
		if typ := in.Mode & unix.S_IFMT; typ == unix.S_IFCHR || typ == unix.S_IFBLK {
			refuse = append(refuse, fmt.Sprintf("%s is a device node, which only root can create", p))
		}
		for _, x := range in.Xattrs {
			if strings.HasPrefix(x, "security.") || strings.HasPrefix(x, "trusted.") {
				refuse = append(refuse, fmt.Sprintf("%s has xattr %s, which only root can set", p, x))
			}
		}
	}
	if len(refuse) == 0 {
		return nil
	}
	if len(refuse) > 8 {
		refuse = append(refuse[:8], fmt.Sprintf("and %d more", len(refuse)-8))
	}
	return fmt.Errorf("the rootless OEM rebuild would lose what OEM holds: %s; run as root, or use --mount as root", strings.Join(refuse, "; "))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	sort.Strings(s)
	if len(s) > 5 {
		return strings.Join(s[:5], ", ") + fmt.Sprintf(" and %d more", len(s)-5)
	}
	return strings.Join(s, ", ")
}

// localUnder resolves a path of the filesystem inside the tree without
// following symlinks in its parents (restore never writes through them).
func (b *Btrfs) localUnder(p string) (string, error) {
	l, err := b.local(p)
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(l))
	if err != nil {
		return "", fmt.Errorf("finding %s in the unpacked tree: %w", p, err)
	}
	if dir != b.tree && !strings.HasPrefix(dir, b.tree+string(filepath.Separator)) {
		return "", fmt.Errorf("finding %s in the unpacked tree: a parent is a symlink out of it", p)
	}
	return filepath.Join(dir, filepath.Base(l)), nil
}

// mknod recreates a FIFO or device node restore skipped, with
// its owner, mode and times; mkfs.btrfs 6.2 drops device numbers, so they
// are patched in after the rebuild.
func (b *Btrfs) mknod(in *btrfsfix.Inode) error {
	for _, p := range in.Paths {
		l, err := b.localUnder(p)
		if err != nil {
			return err
		}
		if p != in.Paths[0] {
			first, _ := b.localUnder(in.Paths[0])
			if err := os.Link(first, l); err != nil {
				return fmt.Errorf("recreating hardlink %s: %w", p, err)
			}
			continue
		}
		os.Remove(l)
		// btrfs stores the kernel's device number: major << 20 | minor.
		dev := unix.Mkdev(uint32(in.Rdev>>20), uint32(in.Rdev&0xfffff))
		if err := unix.Mknod(l, in.Mode, int(dev)); err != nil {
			return fmt.Errorf("recreating %s (mode %o): %w", p, in.Mode, err)
		}
		if err := os.Lchown(l, int(in.UID), int(in.GID)); err != nil && os.Geteuid() == 0 {
			return fmt.Errorf("recreating %s: %w", p, err)
		}
		if err := unix.Fchmodat(unix.AT_FDCWD, l, in.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("recreating %s: %w", p, err)
		}
		ts := []unix.Timespec{{Sec: in.Atime[0], Nsec: in.Atime[1]}, {Sec: in.Mtime[0], Nsec: in.Mtime[1]}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, l, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("recreating %s: %w", p, err)
		}
		if in.Mode&unix.S_IFMT == unix.S_IFCHR || in.Mode&unix.S_IFMT == unix.S_IFBLK {
			pt := b.patches[p]
			pt.Rdev, pt.SetRdev = in.Rdev, true
			b.patches[p] = pt
		}
	}
	for _, p := range in.Paths[1:] {
		if pt, ok := b.patches[in.Paths[0]]; ok {
			b.patches[p] = pt
		}
	}
	return nil
}

// relink turns the copies restore wrote for each name of a hardlinked
// file back into one inode.
func (b *Btrfs) relink(in *btrfsfix.Inode) error {
	first, err := b.localUnder(in.Paths[0])
	if err != nil {
		return err
	}
	if _, err := os.Lstat(first); err != nil {
		return fmt.Errorf("restore did not unpack %s: %w", in.Paths[0], err)
	}
	for _, p := range in.Paths[1:] {
		l, err := b.localUnder(p)
		if err != nil {
			return err
		}
		os.Remove(l)
		if err := os.Link(first, l); err != nil {
			return fmt.Errorf("recreating hardlink %s: %w", p, err)
		}
	}
	return nil
}

// Lost lists, one line each, what the rebuild cannot keep and changes
// (the bake reports them on stderr and in --json). Empty when nothing is
// lost.
func (b *Btrfs) Lost() []string { return append([]string(nil), b.lost...) }

// Refusal is the reason Commit refuses to rebuild, or nil.
func (b *Btrfs) Refusal() error { return b.refusal }

func (b *Btrfs) copyOut(ctx context.Context, part string) error {
	if err := copyOut(ctx, b.image, b.offset, b.length, part); err != nil {
		return fmt.Errorf("copying btrfs partition out: %w", err)
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
// The device, chunk-tree and top subvolume UUIDs of the original are
// written back, so the same edit of the same image gives the same bytes
// (with an Epoch).
func (b *Btrfs) Commit(ctx context.Context) error {
	if !b.dirty {
		return nil
	}
	if b.refusal != nil {
		return b.refusal
	}
	for _, l := range b.lost {
		b.log.Warn("OEM: " + l)
	}
	part := filepath.Join(b.work, "new.img")
	if err := os.WriteFile(part, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(part, b.length); err != nil {
		return err
	}
	// mkfs.btrfs refuses a -U that a device of this host shows (say the
	// image's OEM on a loop device), so it gets a throw-away UUID and
	// btrfsfix.Fix writes the original back.
	var tmp [16]byte
	if _, err := rand.Read(tmp[:]); err != nil {
		return err
	}
	tmp[6], tmp[8] = tmp[6]&0x0f|0x40, tmp[8]&0x3f|0x80
	args := []string{"-q", "-f", "--byte-count", fmt.Sprint(b.length), "-U", fmt.Sprintf("%x-%x-%x-%x-%x", tmp[0:4], tmp[4:6], tmp[6:8], tmp[8:10], tmp[10:16])}
	if b.label != "" {
		args = append(args, "--label", b.label)
	}
	if b.mixed {
		args = append(args, "--mixed", "-m", "single", "-d", "single")
	}
	if err := b.mkfs(ctx, args, part); err != nil {
		return fmt.Errorf("rebuilding btrfs for %s: %w", b.image, err)
	}
	fix := btrfsfix.Options{IDs: b.ids, Inodes: b.patches, Epoch: b.epoch, HaveEpoch: b.epoch != 0, ClampTimes: true}
	if err := btrfsfix.Fix(part, fix); err != nil {
		return fmt.Errorf("rebuilding btrfs for %s: %w", b.image, err)
	}
	if err := copyBack(ctx, b.image, b.offset, b.length, part, "mkfs.btrfs"); err != nil {
		return fmt.Errorf("rebuilding btrfs for %s: %w", b.image, err)
	}
	os.Remove(part)
	b.dirty = false
	return nil
}

// mkfs runs mkfs.btrfs on a reproducible copy of the tree
// (btrfsfix.Mkfs). Where namespaces are not allowed it falls back to
// mkfs.btrfs on the tree itself, which keeps the same properties but is
// not byte-reproducible, and says so.
func (b *Btrfs) mkfs(ctx context.Context, args []string, part string) error {
	mnt := filepath.Join(b.work, "stage")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return err
	}
	err := btrfsfix.Mkfs(ctx, b.tree, mnt, b.length+64<<20, append(args, part)...)
	if !errors.Is(err, btrfsfix.ErrNoNamespace) {
		return err
	}
	b.log.Warn("OEM: " + err.Error() + ": mkfs.btrfs reads the tree in place, so two bakes may differ byte for byte")
	b.lost = append(b.lost, "reproducibility: no mount namespace here, the rebuilt OEM is not byte-reproducible")
	if _, err := runTool(ctx, "mkfs.btrfs", append(args, "--rootdir", b.tree, part)...); err != nil {
		return err
	}
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
