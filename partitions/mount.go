package partitions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/u-root/u-root/pkg/mount"
	"github.com/u-root/u-root/pkg/mount/loop"
	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
)

// ErrNeedsRoot is returned by OpenMount for non-root callers.
var ErrNeedsRoot = errors.New("mounting needs root: drop --mount to edit rootless")

// Mounted edits a partition's filesystem through the kernel: the partition
// is attached to a loop device (with its offset and size) and mounted with
// u-root's mount package. It is the optional --mount path for root users;
// it needs no rebuild for btrfs and keeps btrfs properties such as OEM's
// compression.
type Mounted struct {
	dirTree
	fsType string
	dev    string
	mp     *mount.MountPoint
	mnt    string
}

// OpenMount attaches [offset, offset+length) of image to a free loop
// device and mounts it (fsType: "ext4", "btrfs" or "vfat").
func OpenMount(image string, offset, length int64, fsType string) (_ *Mounted, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNeedsRoot
	}
	dev, err := loop.FindDevice()
	if err != nil {
		return nil, fmt.Errorf("finding a free loop device: %w", err)
	}
	if err := attach(dev, image, offset, length); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			loop.ClearFile(dev)
		}
	}()
	mnt, err := atomicfile.MkdirTemp("", "mnt")
	if err != nil {
		return nil, err
	}
	mp, err := mount.Mount(dev, mnt, fsType, "", 0)
	if err != nil {
		atomicfile.Forget(mnt)
		os.Remove(mnt)
		return nil, fmt.Errorf("mounting %s (offset %d of %s) on %s: %w", dev, offset, image, mnt, err)
	}
	return &Mounted{dirTree: dirTree{root: mnt}, fsType: fsType, dev: dev, mp: mp, mnt: mnt}, nil
}

// attach binds the image range to the loop device.
func attach(dev, image string, offset, length int64) error {
	f, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", image, err)
	}
	defer f.Close()
	l, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dev, err)
	}
	defer l.Close()
	if err := unix.IoctlSetInt(int(l.Fd()), unix.LOOP_SET_FD, int(f.Fd())); err != nil {
		return fmt.Errorf("attaching %s to %s: %w", image, dev, err)
	}
	info := &unix.LoopInfo64{Offset: uint64(offset), Sizelimit: uint64(length)}
	copy(info.File_name[:], filepath.Base(image))
	if err := unix.IoctlLoopSetStatus64(int(l.Fd()), info); err != nil {
		unix.IoctlSetInt(int(l.Fd()), unix.LOOP_CLR_FD, 0)
		return fmt.Errorf("setting offset on %s: %w", dev, err)
	}
	return nil
}

// FreeBytes implements Editor (statfs of the mount, blocks available).
func (m *Mounted) FreeBytes() (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(m.mnt, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", m.mnt, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Commit implements Editor: writes reach the image when the filesystem is
// synced.
func (m *Mounted) Commit(context.Context) error {
	f, err := os.Open(m.mnt)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncing %s: %w", m.mnt, err)
	}
	return nil
}

// Close unmounts and detaches the loop device. Edits already done stay:
// a mounted filesystem has no undo.
func (m *Mounted) Close() error {
	if m.mp == nil {
		return nil
	}
	err := m.mp.Unmount(0)
	m.mp = nil
	if m.fsType == FSBtrfs {
		// The kernel keeps a mounted btrfs registered by UUID; forget it,
		// or a later "mkfs.btrfs -U" with that UUID (the rootless OEM
		// rebuild) is refused as non-unique.
		// A clean-up: it runs even after an interrupt, bounded in time.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := child.Command(ctx, "btrfs", "device", "scan", "--forget", m.dev)
		_, out, ferr := child.Run(ctx, cmd)
		cancel()
		if ferr != nil && err == nil {
			err = fmt.Errorf("forgetting btrfs on %s: %w: %s", m.dev, ferr, bytes.TrimSpace(out))
		}
	}
	if cerr := loop.ClearFile(m.dev); err == nil && cerr != nil {
		err = fmt.Errorf("detaching %s: %w", m.dev, cerr)
	}
	// Remove, not RemoveAll: after a failed unmount the directory still
	// shows the partition's files.
	atomicfile.Forget(m.mnt)
	os.Remove(m.mnt)
	return err
}
