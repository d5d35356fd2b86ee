package bake_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

const arm64Release = "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n"

// TestArchFromImage: --arch is checked against an arm64 image (raw and
// bzip2) and a mismatch refused; without --arch the image's architecture
// is the default, so an arm64 sysext is accepted and an x86-64 one is not.
func TestArchFromImage(t *testing.T) {
	f := newFixture(t, testimage.Options{Arch: flatcar.ArchARM64})
	checkImageArch(t, f.image, flatcar.ArchARM64)
	bz := f.image + ".bz2"
	if err := testimage.Bzip2(context.Background(), f.image, bz); err != nil {
		t.Fatal(err)
	}
	armExt := f.sysext(t, "armext.raw", "armext", arm64Release)
	x86Ext := f.sysext(t, "x86ext.raw", "x86ext", flatcarRelease)
	for _, image := range []string{f.image, bz} {
		t.Run(filepath.Base(image), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			os.MkdirAll(out, 0o755)
			_, err := bake.Run(context.Background(), bake.Options{
				Image: image, OutputDir: out, Arch: flatcar.ArchX86_64,
				Sysexts: []bake.Sysext{{Name: "x86ext", File: x86Ext}},
			})
			want := "image " + image + " is arm64, --arch x86-64 given"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			_, err = bake.Run(context.Background(), bake.Options{
				Image: image, OutputDir: out, Sysexts: []bake.Sysext{{Name: "x86ext", File: x86Ext}},
			})
			if err == nil || !strings.Contains(err.Error(), "ARCHITECTURE=x86-64 does not match the image's architecture arm64") {
				t.Fatalf("x86-64 sysext on an arm64 image: %v", err)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Fatalf("refused bakes left %d files", len(ents))
			}
			res, err := bake.Run(context.Background(), bake.Options{
				Image: image, OutputDir: out, Sysexts: []bake.Sysext{{Name: "armext", File: armExt}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Arch != "arm64" {
				t.Errorf("result arch %q", res.Arch)
			}
			if got := sha(debugfsCat(t, res.Image, "/opt/extensions/armext.raw")); got != testutil.FileSHA256(t, armExt) {
				t.Error("arm64 sysext content differs")
			}
		})
	}
}

// TestArchUnknownWarns: an image whose ESP names no loader is taken as
// x86-64 with a warning, and an explicit --arch is trusted.
func TestArchUnknownWarns(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	checkImageArch(t, f.image, flatcar.ArchX86_64)
	// Rename the loader so the ESP no longer names an architecture; mren
	// is the independent FAT writer testimage uses too.
	esp := int64(spec(flatcar.LabelESP).FirstSector) * 512
	testutil.RequireTool(t, "mren")
	cmd := exec.Command("mren", "-i", fmt.Sprintf("%s@@%d", f.image, esp), "::/EFI/boot/bootx64.efi", "::/EFI/boot/loader.efi")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mren: %v: %s", err, out)
	}
	checkImageArch(t, f.image, "")
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	var logs bytes.Buffer
	res, err := bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Sysexts: []bake.Sysext{{Name: "myext", File: ext}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Arch != "x86-64" || !strings.Contains(logs.String(), "assuming x86-64") {
		t.Errorf("arch %q, log %q", res.Arch, logs.String())
	}
}

// checkImageArch asserts what bake.ImageArch reads from image.
func checkImageArch(t *testing.T, image string, want flatcar.Arch) {
	t.Helper()
	d, err := gpt.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bake.ImageArch(image, d); err != nil || got != want {
		t.Fatalf("detected %q, %v; want %q", got, err, want)
	}
}
