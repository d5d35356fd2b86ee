package sysext_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/sysext"
)

func makeTree(t *testing.T, name, release string) string {
	dir := filepath.Join(t.TempDir(), "tree")
	rd := filepath.Join(dir, "usr/lib/extension-release.d")
	os.MkdirAll(rd, 0o755)
	os.WriteFile(filepath.Join(rd, "extension-release."+name), []byte(release), 0o644)
	os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "usr/bin/hello"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	return dir
}

func TestReadReleaseAllFormats(t *testing.T) {
	rel := "ID='flatcar'\nSYSEXT_LEVEL=1.0\nARCHITECTURE=\"x86-64\"\n"
	cases := []struct {
		name  string
		tools []string
		build func(t *testing.T, dir, out string)
	}{
		{"squashfs-gzip", []string{"mksquashfs"}, func(t *testing.T, dir, out string) {
			testutil.Run(t, "mksquashfs", dir, out, "-all-root", "-noappend", "-quiet")
		}},
		{"squashfs-lz4", []string{"mksquashfs", "unsquashfs"}, func(t *testing.T, dir, out string) {
			testutil.Run(t, "mksquashfs", dir, out, "-all-root", "-noappend", "-quiet", "-comp", "lz4")
		}},
		{"erofs", []string{"mkfs.erofs", "fsck.erofs"}, func(t *testing.T, dir, out string) {
			testutil.Run(t, "mkfs.erofs", "--all-root", out, dir)
		}},
		{"ext4", []string{"mke2fs", "debugfs"}, func(t *testing.T, dir, out string) {
			testutil.Run(t, "mke2fs", "-q", "-t", "ext4", "-d", dir, out, "8M")
		}},
		{"btrfs", []string{"mkfs.btrfs", "btrfs"}, func(t *testing.T, dir, out string) {
			os.WriteFile(out, nil, 0o644)
			os.Truncate(out, 128<<20)
			testutil.Run(t, "mkfs.btrfs", "-q", "--rootdir", dir, out)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testutil.RequireTool(t, c.tools...)
			dir := makeTree(t, "demo", rel)
			img := filepath.Join(t.TempDir(), "demo.raw")
			c.build(t, dir, img)
			r, err := sysext.ReadRelease(img, "demo")
			if err != nil {
				t.Fatal(err)
			}
			if r.Get("ID") != "flatcar" || r.Get("ARCHITECTURE") != "x86-64" {
				t.Errorf("parsed %v", r.Map())
			}
			if err := sysext.Compatible(r, sysext.FlatcarHost(flatcar.ArchX86_64, "4593.2.5")); err != nil {
				t.Error(err)
			}
			if _, err := sysext.ReadRelease(img, "other"); err == nil || !strings.Contains(err.Error(), "extension-release.other") {
				t.Errorf("wrong name accepted: %v", err)
			}
		})
	}
}

func TestCompatible(t *testing.T) {
	host := sysext.FlatcarHost(flatcar.ArchX86_64, "4593.2.5")
	for in, wantField := range map[string]string{
		"ID=_any\n":                            "",
		"ID=_any\nARCHITECTURE=arm64\n":        "ARCHITECTURE",
		"ID=flatcar\nSYSEXT_LEVEL=1.0\n":       "",
		"ID=flatcar\nSYSEXT_LEVEL=2.0\n":       "SYSEXT_LEVEL",
		"ID=flatcar\nVERSION_ID=4593.2.5\n":    "",
		"ID=flatcar\nVERSION_ID=1.2.3\n":       "VERSION_ID",
		"ID=flatcar\n":                         "SYSEXT_LEVEL",
		"ID=debian\nSYSEXT_LEVEL=1.0\n":        "ID",
		"ARCHITECTURE=x86-64\n":                "ID",
		"ID=\"flatcar\"\nSYSEXT_LEVEL='1.0'\n": "",
	} {
		r, err := osrelease.ParseString(in)
		if err != nil {
			t.Fatal(err)
		}
		err = sysext.Compatible(r, host)
		if wantField == "" && err != nil {
			t.Errorf("%q refused: %v", in, err)
		}
		if wantField != "" && (err == nil || !strings.Contains(err.Error(), wantField)) {
			t.Errorf("%q: error %v, want one naming %s", in, err, wantField)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"docker", "docker-flatcar", "k3s_1.2", "a"} {
		if err := sysext.ValidName(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a..b", "x y", "é", "my+ext", "a@b", ".hidden", "-x", "_x"} {
		if err := sysext.ValidName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDetectRejectsJunk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "junk.raw")
	os.WriteFile(p, []byte("not a filesystem"), 0o644)
	if _, err := sysext.DetectFormat(p); err == nil {
		t.Error("junk accepted")
	}
}
