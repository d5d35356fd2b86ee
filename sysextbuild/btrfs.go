package sysextbuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// writeBtrfs packs a staging copy with mkfs.btrfs --rootdir (single data
// and metadata profile, shrunk to fit, fixed filesystem UUID). Owners are
// root: the staging copy is chowned when running as root, otherwise
// mkfs.btrfs runs in a user namespace (unshare --map-root-user) where the
// staged files, which we own, appear owned by root.
//
// Limits of btrfs-progs 6.2, which these images inherit: mkfs.btrfs copies
// inode numbers and ctime from the staging copy and stamps the root
// directory and otime with the current time, and it picks random device
// and chunk-tree UUIDs, so btrfs images are root-owned with epoch mtimes
// and atimes but are not byte-reproducible. Prefer squashfs or erofs.
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
	args := []string{"-q", "-f", "-m", "single", "-d", "single", "--shrink",
		"-U", j.uuid, "--rootdir", st.root, j.out}
	if st.asRoot {
		_, _, err = runTool(ctx, nil, nil, "mkfs.btrfs", args...)
		return err
	}
	mkfs, err := lookTool("mkfs.btrfs")
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("packing btrfs as a non-root user needs unshare (Debian package util-linux) to make files root-owned, or run as root: %w", err)
	}
	if _, _, err := runTool(ctx, nil, nil, "unshare", append([]string{"--map-root-user", mkfs}, args...)...); err != nil {
		return fmt.Errorf("%w (packing btrfs as a non-root user needs user namespaces; or run as root)", err)
	}
	return nil
}
