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
	"github.com/bake-os/bake-os/testimage"
)

// TestRefusals checks each bad input: an error naming the problem, no file
// left in the output directory, and the input image unchanged.
func TestRefusals(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	good := f.sysext(t, "good.raw", "good", flatcarRelease)
	arm := f.sysext(t, "arm.raw", "arm", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n")
	debian := f.sysext(t, "debian.raw", "debian", "ID=debian\nVERSION_ID=12\n")
	oldVersion := f.sysext(t, "old.raw", "old", "ID=flatcar\nVERSION_ID=3033.2.0\n")
	wrongName := f.sysext(t, "wrong.raw", "othername", flatcarRelease)
	noRelease := filepath.Join(f.dir, "norelease.raw")
	testutil.Run(t, "mksquashfs", t.TempDir(), noRelease, "-noappend", "-quiet")
	// A valid sysext padded (sparsely) past OEM's 1 GiB.
	huge := f.sysext(t, "huge.raw", "huge", flatcarRelease)
	if err := os.Truncate(huge, 1200<<20); err != nil {
		t.Fatal(err)
	}
	// A truncated image and a GPT disk that is not Flatcar.
	truncated := filepath.Join(f.dir, "truncated.bin")
	testutil.Run(t, "cp", "--sparse=always", f.image, truncated)
	if err := os.Truncate(truncated, 4<<30); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(f.dir, "other.bin")
	os.WriteFile(other, nil, 0o644)
	os.Truncate(other, 64<<20)
	testutil.Run(t, "sgdisk", "-n", "1:2048:+10M", "-c", "1:DATA", other)
	notImage := filepath.Join(f.dir, "junk.bin")
	os.WriteFile(notImage, []byte("hello"), 0o644)
	oem, _ := bake.ParseTarget("oem:/sysext/")

	inSum := testutil.DataSHA256(t, f.image)
	cases := []struct {
		name string
		o    bake.Options
		want string
	}{
		{"arch", bake.Options{Sysexts: []bake.Sysext{{Name: "arm", File: arm}}}, "ARCHITECTURE=arm64"},
		{"id", bake.Options{Sysexts: []bake.Sysext{{Name: "debian", File: debian}}}, "ID=debian"},
		{"version", bake.Options{Sysexts: []bake.Sysext{{Name: "old", File: oldVersion}}, Version: "4593.2.5"}, "VERSION_ID=3033.2.0"},
		{"name mismatch", bake.Options{Sysexts: []bake.Sysext{{Name: "wrong", File: wrongName}}}, "extension-release.wrong"},
		{"no release", bake.Options{Sysexts: []bake.Sysext{{Name: "norelease", File: noRelease}}}, "extension-release.norelease"},
		{"missing file", bake.Options{Sysexts: []bake.Sysext{{Name: "gone", File: filepath.Join(f.dir, "gone.raw")}}}, "does not exist"},
		{"not a sysext", bake.Options{Sysexts: []bake.Sysext{{Name: "junk", File: notImage}}}, "not a sysext image"},
		{"mask dup", bake.Options{Sysexts: []bake.Sysext{{Name: "good", File: good}}, Masks: []string{"good"}}, "--mask good: duplicate NAME: it and sysext good are both /etc/extensions/good.raw"},
		{"mask name", bake.Options{Masks: []string{"../x"}}, "invalid sysext name"},
		{"no space", bake.Options{Target: oem, Sysexts: []bake.Sysext{{Name: "huge", File: huge}}}, "not enough free space in the OEM partition"},
		{"truncated", bake.Options{Image: truncated, Sysexts: []bake.Sysext{{Name: "good", File: good}}}, "truncated"},
		{"not flatcar", bake.Options{Image: other, Sysexts: []bake.Sysext{{Name: "good", File: good}}}, "not a Flatcar image: no partition labelled EFI-SYSTEM"},
		{"not a disk", bake.Options{Image: notImage, Sysexts: []bake.Sysext{{Name: "good", File: good}}}, "too small for a GPT disk"},
		{"missing image", bake.Options{Image: filepath.Join(f.dir, "nope.bin"), Sysexts: []bake.Sysext{{Name: "good", File: good}}}, "nope.bin"},
		{"output is input", bake.Options{OutputDir: filepath.Dir(f.image), Sysexts: []bake.Sysext{{Name: "good", File: good}}}, "is the input image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			if o.Image == "" {
				o.Image = f.image
			}
			if o.OutputDir == "" {
				o.OutputDir = f.out
			}
			o.Arch = flatcar.ArchX86_64
			_, err := bake.Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if left := dirEntries(t, f.out); len(left) != 0 {
				t.Errorf("left behind in output dir: %v", left)
			}
		})
	}
	if testutil.DataSHA256(t, f.image) != inSum {
		t.Error("input image changed")
	}
}

func TestParseArgs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.conf"), []byte("[Target]\n"), 0o644)
	got, err := bake.ParseSysextArgs([]string{"a:sub/a-1.raw", "b:/abs/b.raw"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].File != filepath.Join(dir, "sub/a-1.raw") || got[0].Conf != filepath.Join(dir, "a.conf") || got[0].ConfFrom != "in the current directory" || got[1].File != "/abs/b.raw" || got[1].Conf != "" {
		t.Errorf("%+v", got)
	}
	for _, bad := range [][]string{{"noname"}, {":x.raw"}, {"a/b:x.raw"}, {"..:x"}, {"a:x", "a:y"}} {
		if _, err := bake.ParseSysextArgs(bad, dir); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	for in, want := range map[string]string{"root:/opt/extensions/": "root:/opt/extensions/", "oem:/sysext": "oem:/sysext/", "OEM:/a/b/": "oem:/a/b/"} {
		tg, err := bake.ParseTarget(in)
		if err != nil || tg.String() != want {
			t.Errorf("ParseTarget(%q) = %v %v", in, tg, err)
		}
	}
	for _, bad := range []string{"usr:/x", "root:rel", "root:/a/../b", "root", "root:/usr/lib/extensions", "root:/a\"b", "root:/run/extensions", "root:/tmp", "root:/oem/x"} {
		if _, err := bake.ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}
