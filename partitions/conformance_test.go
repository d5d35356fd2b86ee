package partitions_test

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
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/partitions/partitionstest"
	"github.com/bake-os/bake-os/testimage"
)

func spec(label string) flatcar.PartitionSpec {
	for _, p := range flatcar.BaseLayout {
		if p.Label == label {
			return p
		}
	}
	panic(label)
}

func genImage(t *testing.T, o testimage.Options) string {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	img := filepath.Join(t.TempDir(), "flatcar_production_image.bin")
	if err := testimage.Generate(context.Background(), img, o); err != nil {
		t.Fatal(err)
	}
	return img
}

func offLen(label string) (int64, int64) {
	p := spec(label)
	return int64(p.FirstSector) * 512, int64(p.Sectors) * 512
}

func TestExt4Conformance(t *testing.T) {
	testutil.RequireTool(t, "debugfs", "e2fsck")
	img := genImage(t, testimage.Options{})
	off, _ := offLen(flatcar.LabelROOT)
	open := func(t *testing.T) partitions.Editor {
		ed, err := partitions.OpenExt4(img, off, partitions.Ext4Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ed
	}
	partitionstest.Run(t, partitionstest.Backend{
		Name: "ext4", Open: open, Reopen: open,
		Check: func(t *testing.T) {
			testutil.Run(t, "e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", img, off))
		},
		Extract: func(t *testing.T) string {
			dir := t.TempDir()
			testutil.Run(t, "debugfs", "-R", "rdump / "+dir, fmt.Sprintf("%s?offset=%d", img, off))
			return dir
		},
	})
}

// extractPart copies a partition out to its own file (dd, not our code).
func extractPart(t *testing.T, img, label string) string {
	t.Helper()
	p := spec(label)
	out := filepath.Join(t.TempDir(), label+".img")
	testutil.ExtractSectors(t, img, out, uint64(p.FirstSector), uint64(p.Sectors))
	return out
}

func TestBtrfsConformance(t *testing.T) {
	testutil.RequireTool(t, "btrfs", "mkfs.btrfs", "dd")
	img := genImage(t, testimage.Options{OEMFiles: map[string]string{"keep/me.txt": "existing OEM content\n", "grub.cfg": "set oem_id=\"qemu\"\n"}})
	off, n := offLen(flatcar.LabelOEM)
	open := func(t *testing.T) partitions.Editor {
		ed, err := partitions.OpenBtrfs(context.Background(), img, off, n, partitions.BtrfsOptions{WorkDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return ed
	}
	before := btrfsSuper(t, extractPart(t, img, flatcar.LabelOEM))
	partitionstest.Run(t, partitionstest.Backend{
		Name: "btrfs", Open: open, Reopen: open,
		Check: func(t *testing.T) {
			part := extractPart(t, img, flatcar.LabelOEM)
			testutil.Run(t, "btrfs", "check", "--readonly", part)
			after := btrfsSuper(t, part)
			for _, k := range []string{"fsid", "label", "incompat_flags"} {
				if before[k] != after[k] {
					t.Errorf("btrfs %s changed: %q -> %q", k, before[k], after[k])
				}
			}
			if !strings.Contains(after["incompat_flags"], "MIXED_GROUPS") && !strings.Contains(testutil.Run(t, "btrfs", "inspect-internal", "dump-super", part), "MIXED_GROUPS") {
				t.Error("btrfs lost the mixed block groups profile")
			}
		},
		Extract: func(t *testing.T) string {
			dir := t.TempDir()
			testutil.Run(t, "btrfs", "restore", "-x", "-m", "-S", extractPart(t, img, flatcar.LabelOEM), dir)
			got, err := os.ReadFile(filepath.Join(dir, "keep/me.txt"))
			if err != nil || string(got) != "existing OEM content\n" {
				t.Errorf("existing OEM content lost: %q %v", got, err)
			}
			return dir
		},
	})
}

func btrfsSuper(t *testing.T, part string) map[string]string {
	t.Helper()
	out := testutil.Run(t, "btrfs", "inspect-internal", "dump-super", part)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			m[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return m
}

func TestVFATReadsESP(t *testing.T) {
	testutil.RequireTool(t, "fsck.vfat")
	img := genImage(t, testimage.Options{})
	off, n := offLen(flatcar.LabelESP)
	ed, kind, err := partitions.Open(context.Background(), img, off, n, partitions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ed.Close()
	if kind != partitions.FSVFAT {
		t.Fatalf("detected %q", kind)
	}
	r, err := ed.Open("/flatcar/vmlinuz-a")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	k, _ := r.Read(buf)
	r.Close()
	// Independent read-back with mtools.
	cmd := exec.Command("mtype", "-i", fmt.Sprintf("%s@@%d", img, off), "::/flatcar/vmlinuz-a")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	want, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:k]) != string(want) {
		t.Errorf("vmlinuz-a = %q, mtype says %q", buf[:k], want)
	}
	if err := ed.WriteFile("/x", nil, 0o644); err != partitions.ErrReadOnly {
		t.Errorf("write on vfat: %v", err)
	}
	part := extractPart(t, img, flatcar.LabelESP)
	testutil.Run(t, "fsck.vfat", "-n", part)
}

func TestDetect(t *testing.T) {
	img := genImage(t, testimage.Options{})
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for label, want := range map[string]string{flatcar.LabelESP: "vfat", flatcar.LabelUSRA: "btrfs", flatcar.LabelOEM: "btrfs", flatcar.LabelROOT: "ext4", flatcar.LabelUSRB: ""} {
		off, n := offLen(label)
		got, err := partitions.Detect(f, off, n)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", label, got, err, want)
		}
	}
}
