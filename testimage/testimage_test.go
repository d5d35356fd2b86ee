package testimage_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

func TestGeneratedFilesystems(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "e2fsck", "btrfs", "fsck.vfat", "dd", "dumpe2fs")
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(context.Background(), img, testimage.Options{Version: "4081.3.10", Arch: flatcar.ArchARM64}); err != nil {
		t.Fatal(err)
	}
	part := func(p flatcar.PartitionSpec) string {
		out := filepath.Join(t.TempDir(), p.Label)
		testutil.ExtractSectors(t, img, out, uint64(p.FirstSector), uint64(p.Sectors))
		return out
	}
	for _, p := range flatcar.BaseLayout {
		switch p.FS {
		case "vfat":
			testutil.Run(t, "fsck.vfat", "-n", part(p))
		case "btrfs":
			pf := part(p)
			testutil.Run(t, "btrfs", "check", "--readonly", pf)
			super := testutil.Run(t, "btrfs", "inspect-internal", "dump-super", pf)
			if !strings.Contains(super, "label\t\t\t"+p.Label) || !strings.Contains(super, "MIXED_GROUPS") {
				t.Errorf("%s superblock: label or mixed profile missing", p.Label)
			}
			if p.Label == flatcar.LabelUSRA {
				d := t.TempDir()
				testutil.Run(t, "btrfs", "restore", pf, d)
				osr, err := os.ReadFile(filepath.Join(d, "lib/os-release"))
				if err != nil || !strings.Contains(string(osr), "ID=flatcar\n") || !strings.Contains(string(osr), "VERSION_ID=4081.3.10\n") || !strings.Contains(string(osr), "SYSEXT_LEVEL=1.0\n") {
					t.Errorf("USR-A os-release: %q %v", osr, err)
				}
			}
		case "ext4":
			spec := fmt.Sprintf("%s?offset=%d", img, int64(p.FirstSector)*512)
			testutil.Run(t, "e2fsck", "-fn", spec)
			dump := testutil.Run(t, "dumpe2fs", "-h", spec)
			for _, w := range []string{"Filesystem volume name:   ROOT", "Block size:               4096", "Inode size:\t          256", "Errors behavior:          Remount read-only", "resize_inode", "metadata_csum", "64bit"} {
				if !strings.Contains(dump, w) {
					t.Errorf("ROOT lacks %q", w)
				}
			}
		}
	}
	vt, _ := os.ReadFile(filepath.Join(dir, "version.txt"))
	if !strings.Contains(string(vt), "FLATCAR_VERSION=4081.3.10\n") {
		t.Errorf("version.txt %q", vt)
	}
	// Sparse: only a few tens of MB allocated.
	if out, _ := exec.Command("du", "-k", img).Output(); len(out) > 0 {
		var kb int64
		fmt.Sscan(string(out), &kb)
		if kb > 200*1024 {
			t.Errorf("image allocates %d KiB", kb)
		}
	}
}

func TestBzip2RoundTrip(t *testing.T) {
	testutil.RequireTool(t, "bzip2", "cmp")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, _ := os.Create(src)
	f.Truncate(300 << 20)
	f.WriteAt([]byte("head"), 0)
	f.WriteAt([]byte(strings.Repeat("data", 100000)), 100<<20+12345)
	f.Close()
	if err := testimage.Bzip2(context.Background(), src, src+".bz2"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("sh", "-c", "bunzip2 -c "+src+".bz2 > "+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	testutil.Run(t, "cmp", src, out)
}
