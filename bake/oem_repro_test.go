package bake_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/testimage"
)

// TestBakeOEMIsReproducible: two bakes into OEM (the rootless btrfs
// rebuild) with the same epoch give the same bytes, whole image and OEM
// range, and the rebuilt OEM passes btrfs check.
func TestBakeOEMIsReproducible(t *testing.T) {
	testutil.RequireTool(t, "btrfs", "mkfs.btrfs", "unshare", "tar")
	f := newFixture(t, testimage.Options{OEMFiles: map[string]string{"keep/me.txt": "existing\n"}})
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	var whole, oem []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(f.out, string(rune('a'+i)))
		os.MkdirAll(out, 0o755)
		res, err := bake.Run(context.Background(), bake.Options{
			Image: f.image, OutputDir: out, Epoch: 1700000000, Sysexts: []bake.Sysext{{Name: "myext", File: ext}},
			Target: bake.Target{Part: bake.PartOEM, Dir: "/sysext-extra"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Sysexts) != 1 || res.Sysexts[0].Partition != flatcar.LabelOEM {
			t.Fatalf("sysext not installed to OEM: %+v", res.Sysexts)
		}
		img := filepath.Join(out, "flatcar_production_image.bin")
		whole = append(whole, dataSHA(t, img))
		sum, part := oemRange(t, img)
		oem = append(oem, sum)
		testutil.Run(t, "btrfs", "check", "--readonly", part)
	}
	if oem[0] != oem[1] {
		t.Errorf("two bakes' OEM partitions differ: %s vs %s", oem[0], oem[1])
	}
	if whole[0] != whole[1] {
		t.Errorf("two bakes with the same epoch differ: %s vs %s", whole[0], whole[1])
	}
}

// oemRange hashes the OEM partition's bytes (its data extents and where
// they lie; holes read as zeros) and copies them sparsely to a file for
// btrfs check.
func oemRange(t *testing.T, img string) (string, string) {
	t.Helper()
	d, err := gpt.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.ByLabel(flatcar.LabelOEM)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	exts, err := sparse.DataExtents(src, p.Offset(), p.Size())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range exts {
		fmt.Fprintf(h, "%d+%d\n", e.Off-p.Offset(), e.Len)
		if _, err := io.Copy(h, io.NewSectionReader(src, e.Off, e.Len)); err != nil {
			t.Fatal(err)
		}
	}
	part := filepath.Join(t.TempDir(), "oem.img")
	dst, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Truncate(p.Size()); err != nil {
		t.Fatal(err)
	}
	if err := sparse.CopyRange(context.Background(), dst, src, 0, p.Offset(), p.Size(), nil); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), part
}

// TestBakeOEMReportsLostCompression: an OEM with the compression
// property (as Flatcar's has) loses it in the rootless rebuild; the bake
// says so in its result (--json "warnings") instead of dropping it
// silently.
func TestBakeOEMReportsLostCompression(t *testing.T) {
	if os.Geteuid() != 0 {
		if strings.Contains(os.Getenv("BAKE_TEST_REQUIRE_TOOLS"), "all") {
			t.Fatal("needs root to loop-mount the OEM fixture")
		}
		t.Skip("needs root")
	}
	testutil.RequireTool(t, "btrfs", "mkfs.btrfs", "unshare", "tar", "losetup", "mount", "umount")
	// A seed of our own: the kernel remembers mounted btrfs UUIDs.
	f := newFixture(t, testimage.Options{UUIDSeed: "lost-compression"})
	d, err := gpt.Open(f.image)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.ByLabel(flatcar.LabelOEM)
	if err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "--find", "--show", "--offset", fmt.Sprint(p.Offset()), "--sizelimit", fmt.Sprint(p.Size()), f.image))
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	testutil.Run(t, "btrfs", "property", "set", mnt, "compression", "zlib")
	if err := os.WriteFile(filepath.Join(mnt, "packed"), []byte(strings.Repeat("compress me ", 50000)), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "umount", mnt)
	testutil.Run(t, "btrfs", "device", "scan", "--forget", dev)
	testutil.Run(t, "losetup", "-d", dev)

	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	res, err := bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Epoch: 1700000000, Sysexts: []bake.Sysext{{Name: "myext", File: ext}},
		Target: bake.Target{Part: bake.PartOEM, Dir: "/sysext-extra"},
	})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	if !strings.Contains(string(js), `"warnings":["compression: `) || !strings.Contains(string(js), "/packed") {
		t.Errorf("--json result does not report the lost compression: %s", js)
	}
	_, part := oemRange(t, filepath.Join(f.out, "flatcar_production_image.bin"))
	testutil.Run(t, "btrfs", "check", "--readonly", part)
}
