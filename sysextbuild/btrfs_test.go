package sysextbuild_test

import (
	"regexp"
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

// TestPackBtrfsNoClockInEntries: mkfs.btrfs 6.2 writes the clock time as
// the transid of some directory entries; every entry's transid must be 0.
func TestPackBtrfsNoClockInEntries(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs", "unshare", "tar")
	_, img := packFormat(t, sysextbuild.FormatBtrfs, testEpoch)
	testutil.Run(t, "btrfs", "check", "--readonly", img)
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", img)
	all := regexp.MustCompile(`transid (\d+) data_len`).FindAllStringSubmatch(dump, -1)
	if len(all) == 0 {
		t.Fatalf("no directory entries in dump-tree:\n%s", dump)
	}
	for _, m := range all {
		if m[1] != "0" {
			t.Errorf("directory entry with transid %s", m[1])
		}
	}
}
