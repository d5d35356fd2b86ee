package sysextbuild

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bake-os/bake-os/internal/btrfsfix"
)

// writeBtrfs packs a staging copy with mkfs.btrfs --rootdir (single data
// and metadata profile, shrunk to fit, fixed filesystem UUID), then
// rewrites the image in place (btrfsfix.Fix) so that all files are owned
// by root, all four timestamps are the epoch, and the device, chunk-tree
// and subvolume UUIDs that mkfs.btrfs picks at random are derived from the
// filesystem UUID.
//
// mkfs.btrfs 6.2 copies inode numbers and directory order from the
// staging copy, so it runs on a copy made in name order on a fresh tmpfs
// (btrfsfix.Mkfs): the same tree gives the same bytes. Where the system
// allows no mount namespace, mkfs.btrfs reads the staging copy itself
// and the image is not byte-reproducible.
func writeBtrfs(ctx context.Context, j *packJob) error {
	st, err := stageTree(ctx, j, filepath.Join(j.scratch, "tree"))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(j.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating image: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating image: %w", err)
	}
	args := []string{"-q", "-f", "-m", "single", "-d", "single", "--shrink", "-U", j.uuid}
	mnt := filepath.Join(j.scratch, "btrfs-stage")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return fmt.Errorf("creating btrfs staging mount point: %w", err)
	}
	size, err := treeBytes(st.root)
	if err != nil {
		return err
	}
	err = btrfsfix.Mkfs(ctx, st.root, mnt, size+64<<20, append(args, j.out)...)
	if errors.Is(err, btrfsfix.ErrNoNamespace) {
		// Same image, but inode numbers and directory order follow the
		// staging directory: not byte-reproducible.
		_, _, err = runTool(ctx, nil, nil, "mkfs.btrfs", append(args, "--rootdir", st.root, j.out)...)
	}
	if err != nil {
		return err
	}
	fsid, err := btrfsfix.ParseUUID(j.uuid)
	if err != nil {
		return err
	}
	o := btrfsfix.Options{RootOwners: true, Epoch: j.epoch, HaveEpoch: true, IDs: btrfsfix.DerivedIDs(fsid)}
	if err := btrfsfix.Fix(j.out, o); err != nil {
		return fmt.Errorf("fixing owners, times and UUIDs: %w", err)
	}
	return nil
}

// treeBytes is the apparent size of the regular files under root, the
// most the staging tmpfs has to hold.
func treeBytes(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring staging tree: %w", err)
	}
	return n, nil
}
