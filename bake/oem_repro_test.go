package bake_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
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

// oemRange hashes the OEM partition's bytes and copies them to a file
// for btrfs check.
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
	part := filepath.Join(t.TempDir(), "oem.img")
	dst, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, dst), io.NewSectionReader(src, p.Offset(), p.Size())); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), part
}
