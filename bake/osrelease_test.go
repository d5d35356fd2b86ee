package bake_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/testimage"
)

// TestImageOSRelease reads USR-A's os-release out of a generated arm64
// image of a non-default version, and the host it describes.
func TestImageOSRelease(t *testing.T) {
	testutil.RequireTool(t, append(testimage.RequiredTools, "btrfs")...)
	img := filepath.Join(t.TempDir(), "flatcar_production_image.bin")
	if err := testimage.Generate(context.Background(), img, testimage.Options{Arch: flatcar.ArchARM64, Version: "4081.3.1"}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(img)
	rel, err := bake.ImageOSRelease(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Get("VERSION_ID") != "4081.3.1" || rel.Get("FLATCAR_BOARD") != "arm64-usr" {
		t.Errorf("os-release: %v", rel.Map())
	}
	h, err := bake.HostOf(rel, "")
	if err != nil || h.ID != "flatcar" || h.VersionID != "4081.3.1" || h.SysextLevel != "1.0" || h.Arch != flatcar.ArchARM64 {
		t.Errorf("HostOf = %+v, %v", h, err)
	}
	if _, err := bake.HostOf(rel, flatcar.ArchX86_64); err == nil || !strings.Contains(err.Error(), "FLATCAR_BOARD=arm64-usr") {
		t.Errorf("contradicting --arch: %v", err)
	}
	if after, _ := os.Stat(img); !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Error("the image changed")
	}
	// A file that is no disk image.
	junk := filepath.Join(t.TempDir(), "junk.bin")
	os.WriteFile(junk, make([]byte, 1<<20), 0o644)
	if _, err := bake.ImageOSRelease(context.Background(), junk); err == nil {
		t.Error("junk accepted")
	}
	// A plain os-release names its arch through the caller.
	plain, _ := osrelease.ParseString("ID=debian\nVERSION_ID=12\n")
	if h, err := bake.HostOf(plain, ""); err != nil || h.Arch != flatcar.ArchX86_64 || h.ID != "debian" || h.SysextLevel != "" {
		t.Errorf("HostOf(debian) = %+v, %v", h, err)
	}
}
