package bake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/bake-os/bake-os/vendors"
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
		whole = append(whole, testutil.DataSHA256(t, img))
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
	f := compressedOEMFixture(t, "lost-compression")
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

// compressedOEMFixture is a test image whose OEM has the btrfs
// compression property set (zlib, as Flatcar's OEM has) and a file
// written compressed, /packed. It needs root to loop-mount the OEM; seed
// is the image's UUID seed, one per test (the kernel remembers mounted
// btrfs UUIDs).
func compressedOEMFixture(t *testing.T, seed string) *fixture {
	t.Helper()
	testutil.RequireLoop(t)
	testutil.RequireTool(t, "btrfs", "mkfs.btrfs", "unshare", "tar", "losetup", "mount", "umount")
	f := newFixture(t, testimage.Options{UUIDSeed: seed})
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
	return f
}

// TestVendorBuildReportsLostCompression: a vendor disk's OEM rebuild
// (the OEM sysext installed) loses the compression property too; the
// loss is logged as a warning and is in the result's warnings (--json).
func TestVendorBuildReportsLostCompression(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	f := compressedOEMFixture(t, "vendor-lost-compression")
	oemDir := filepath.Join(f.dir, "oem")
	os.MkdirAll(oemDir, 0o755)
	rel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-digitalocean\nSYSEXT_NAME=\"OEM digitalocean\"\n"
	if err := testimage.Sysext(context.Background(), filepath.Join(oemDir, "oem-digitalocean.raw"), "oem-digitalocean", rel, nil); err != nil {
		t.Fatal(err)
	}
	v, ok := vendors.Lookup("digitalocean")
	if !ok {
		t.Fatal("no vendor digitalocean")
	}
	var logged bytes.Buffer
	res, err := bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Epoch: 1700000000, Vendors: []vendors.Vendor{v},
		VendorOptions: vendors.BuildOptions{OEMSysextDir: oemDir, Compress: "none"},
		Logger:        slog.New(slog.NewTextHandler(&logged, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	if !strings.Contains(string(js), `"warnings":["compression: `) || !strings.Contains(string(js), "/packed") {
		t.Errorf("--json result does not report the lost compression: %s", js)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "OEM: compression: ") {
		t.Errorf("the lost compression is not logged as a warning:\n%s", logged.String())
	}
	if len(res.Artifacts) == 0 {
		t.Fatalf("no vendor output: %+v", res)
	}
	_, part := oemRange(t, res.Artifacts[0].Path)
	testutil.Run(t, "btrfs", "check", "--readonly", part)
	if out := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", part); !strings.Contains(out, "oem-digitalocean-4593.2.5.raw") {
		t.Errorf("vendor OEM lacks the OEM sysext")
	}
}
