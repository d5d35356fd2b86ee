package bake_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

func TestBakeWithMount(t *testing.T) {
	testutil.RequireLoop(t) // --mount needs root and loop devices
	f := newFixture(t, testimage.Options{UUIDSeed: "bake-mount", OEMFiles: map[string]string{"grub.cfg": "x\n"}})
	root := f.sysext(t, "a.raw", "a", flatcarRelease)
	oemExt := f.sysext(t, "b.raw", "b", flatcarRelease)
	oem, _ := bake.ParseTarget("oem:/sysext/")
	for _, c := range []struct {
		target bake.Target
		s      bake.Sysext
	}{{bake.Target{}, bake.Sysext{Name: "a", File: root}}, {oem, bake.Sysext{Name: "b", File: oemExt}}} {
		out := t.TempDir()
		if _, err := bake.Run(context.Background(), bake.Options{Image: f.image, OutputDir: out, Mount: true,
			Target: c.target, Sysexts: []bake.Sysext{c.s}}); err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(out, "flatcar_production_image.bin")
		judge(t, f.image, img)
		if st := debugfsStat(t, img, "/etc/extensions/"+c.s.Name+".raw"); st.typ != "symlink" || st.uid != "0" {
			t.Errorf("link %+v", st)
		}
		if c.target.Part == "oem" {
			if got := testutil.FileSHA256(t, filepath.Join(btrfsRestore(t, img), "sysext/b.raw")); got != testutil.FileSHA256(t, oemExt) {
				t.Error("OEM content differs")
			}
		}
	}
}
