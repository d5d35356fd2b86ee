package partitions_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/partitions/partitionstest"
	"github.com/bake-os/bake-os/testimage"
)

// requireMount skips unless we are root and loop mounts work here.
func requireMount(t *testing.T) {
	t.Helper()
	testutil.RequireLoop(t)
}

func TestMountConformance(t *testing.T) {
	requireMount(t)
	for _, c := range []struct{ label, fs string }{{flatcar.LabelROOT, "ext4"}, {flatcar.LabelOEM, "btrfs"}} {
		t.Run(c.fs, func(t *testing.T) {
			img := genImage(t, testimage.Options{UUIDSeed: "mount-" + c.fs})
			off, n := offLen(c.label)
			open := func(t *testing.T) partitions.Editor {
				ed, err := partitions.OpenMount(img, off, n, c.fs)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ed.Close() })
				return ed
			}
			partitionstest.Run(t, partitionstest.Backend{
				Name: "mount-" + c.fs, Open: open, Reopen: open,
				Check: func(t *testing.T) {
					if c.fs == "ext4" {
						testutil.Run(t, "e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", img, off))
					} else {
						testutil.Run(t, "btrfs", "check", "--readonly", extractPart(t, img, c.label))
					}
				},
				Extract: func(t *testing.T) string {
					dir := t.TempDir()
					if c.fs == "ext4" {
						testutil.Run(t, "debugfs", "-R", "rdump / "+dir, fmt.Sprintf("%s?offset=%d", img, off))
					} else {
						testutil.Run(t, "btrfs", "restore", "-x", "-m", "-S", extractPart(t, img, c.label), dir)
					}
					return dir
				},
			})
		})
	}
}

func TestMountRefusesNonRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root")
	}
	if _, err := partitions.OpenMount("x", 0, 1, "ext4"); err != partitions.ErrNeedsRoot {
		t.Errorf("got %v", err)
	}
}
