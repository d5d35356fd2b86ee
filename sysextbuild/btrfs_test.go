package sysextbuild_test

import (
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
)

// TestPackBtrfsReproducible: two btrfs packs of one tree, with its times
// and owners changed in between, give the same bytes (mkfs.btrfs staged
// on a fresh tmpfs, random UUIDs rewritten, stale blocks zeroed).
func TestPackBtrfsReproducible(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs", "unshare", "tar")
	checkReproducible(t, sysextbuild.FormatBtrfs)
}
