package bake_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/testimage"
)

// TestNeverWritesThroughSymlinks plants symlinks in the input image where
// a bake writes or removes: OEM /sysext pointing at a directory of this
// machine, ROOT /opt/extensions pointing at /etc, and an old sysext whose
// OEM image lies behind the OEM symlink. Writes are refused naming the
// link; the old image's removal is skipped; the victim directory is
// untouched.
func TestNeverWritesThroughSymlinks(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "old.raw"), []byte("precious\n"), 0o644)
	ctx := context.Background()
	oemOff, oemLen := int64(spec(flatcar.LabelOEM).FirstSector)*512, int64(spec(flatcar.LabelOEM).Sectors)*512
	oem, err := partitions.OpenBtrfs(ctx, f.image, oemOff, oemLen, partitions.BtrfsOptions{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := oem.Symlink(victim, "/sysext"); err != nil {
		t.Fatal(err)
	}
	if err := oem.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	oem.Close()
	root, err := partitions.OpenExt4(f.image, int64(spec(flatcar.LabelROOT).FirstSector)*512, partitions.Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	root.Symlink("/etc", "/opt/extensions")
	root.Symlink("/oem/sysext/old.raw", "/etc/extensions/old.raw")
	if err := root.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	root.Close()

	x := f.sysext(t, "x.raw", "x", flatcarRelease)
	old := f.sysext(t, "old-2.raw", "old", flatcarRelease)
	oemT, _ := bake.ParseTarget("oem:/sysext/")
	safe, _ := bake.ParseTarget("root:/var/lib/ext-images/")
	for _, c := range []struct {
		target bake.Target
		want   string
	}{
		{oemT, "sysext x's image (x.raw) (OEM:/sysext/x.raw): the image's OEM:/sysext is a symlink to " + victim},
		{bake.Target{}, "sysext x's image (x.raw) (ROOT:/opt/extensions/x.raw): the image's ROOT:/opt/extensions is a symlink to /etc"},
	} {
		_, err := bake.Run(ctx, bake.Options{Image: f.image, OutputDir: f.out, Arch: flatcar.ArchX86_64, Target: c.target,
			Sysexts: []bake.Sysext{{Name: "x", File: x}}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
		if left := dirEntries(t, f.out); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	}
	res, err := bake.Run(ctx, bake.Options{Image: f.image, OutputDir: f.out, Arch: flatcar.ArchX86_64, Target: safe,
		Sysexts: []bake.Sysext{{Name: "old", File: old}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replaced) != 1 || len(res.Replaced[0].Removed) != 0 || len(res.Replaced[0].Kept) != 1 ||
		!strings.Contains(res.Replaced[0].Kept[0], "OEM:/sysext/old.raw (the image's OEM:/sysext is a symlink to "+victim) {
		t.Errorf("replaced %+v", res.Replaced)
	}
	if got := dirEntries(t, victim); len(got) != 1 || got[0] != "old.raw" {
		t.Errorf("victim directory now holds %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(victim, "old.raw")); string(b) != "precious\n" {
		t.Errorf("victim file: %q", b)
	}
	judge(t, f.image, res.Image)
}
