package sysextbuild

import (
	"context"
	"path/filepath"
	"strconv"
)

// writeErofs packs a staging copy with mkfs.erofs: all files owned by
// root, every timestamp the epoch (-T, and per-file mtimes ignored), a
// fixed UUID, no extended attributes.
func writeErofs(ctx context.Context, j *packJob) error {
	st, err := stageTree(ctx, j, filepath.Join(j.scratch, "tree"))
	if err != nil {
		return err
	}
	epoch := strconv.FormatInt(j.epoch, 10)
	_, _, err = runTool(ctx, nil, nil, "mkfs.erofs", "--quiet",
		"-T"+epoch, "--ignore-mtime", "--all-root", "-U"+j.uuid, "-x-1",
		j.out, st.root)
	return err
}
