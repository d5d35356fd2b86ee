package sysextbuild

import (
	"context"
	"fmt"
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
// Limit of btrfs-progs 6.2, which these images inherit: mkfs.btrfs copies
// inode numbers and directory order from the staging copy, so btrfs images
// are byte-reproducible only when the staging copy is made the same way.
// Prefer squashfs or erofs.
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
	if _, _, err := runTool(ctx, nil, nil, "mkfs.btrfs", "-q", "-f", "-m", "single", "-d", "single", "--shrink",
		"-U", j.uuid, "--rootdir", st.root, j.out); err != nil {
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
