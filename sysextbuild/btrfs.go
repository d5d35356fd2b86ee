package sysextbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// writeBtrfs packs a staging copy with mkfs.btrfs --rootdir (single data
// and metadata profile, shrunk to fit, fixed filesystem UUID), then
// rewrites every inode item in place (btrfsFixInodes) so that all files
// are owned by root and all four timestamps are the epoch: mkfs.btrfs
// copies owners and ctime from the copy, and atimes change as it reads.
//
// Limit of btrfs-progs 6.2, which these images inherit: mkfs.btrfs copies
// inode numbers from the staging copy and picks random device and
// chunk-tree UUIDs, so btrfs images are not byte-reproducible. Prefer
// squashfs or erofs.
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
	if err := btrfsFixInodes(j.out, j.epoch); err != nil {
		return fmt.Errorf("fixing owners and times: %w", err)
	}
	return nil
}
