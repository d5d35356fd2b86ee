package bake_test

import (
	"context"
	"github.com/bake-os/bake-os/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/testimage"
)

// TestPlacementWithConfs covers a sysupdate conf whose [Target] Path lies
// in OEM (OEM install: managed there) and one whose Path lies outside the
// install partition (installed flat, link to the flat file).
func TestPlacementWithConfs(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	inOEM := f.sysext(t, "a-1-x86-64.raw", "a", flatcarRelease)
	elsewhere := f.sysext(t, "b-1-x86-64.raw", "b", flatcarRelease)
	conf := func(name, p string) string {
		c := filepath.Join(f.dir, name+".conf")
		os.WriteFile(c, []byte("[Transfer]\nVerify=false\n\n[Target]\nType=regular-file\nPath="+p+"\nCurrentSymlink=/etc/extensions/"+name+".raw\n"), 0o644)
		return c
	}
	oem, _ := bake.ParseTarget("oem:/sysext/")
	_, err := bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Target: oem,
		Sysexts: []bake.Sysext{
			{Name: "a", File: inOEM, Conf: conf("a", "/oem/extensions/a")},
			{Name: "b", File: elsewhere, Conf: conf("b", "/opt/extensions/b")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.out, "flatcar_production_image.bin")
	judge(t, f.image, out)
	dir := btrfsRestore(t, out)
	if testutil.FileSHA256(t, filepath.Join(dir, "extensions/a/a-1-x86-64.raw")) != testutil.FileSHA256(t, inOEM) {
		t.Error("a not placed in its sysupdate Path inside OEM")
	}
	if testutil.FileSHA256(t, filepath.Join(dir, "sysext/b-1-x86-64.raw")) != testutil.FileSHA256(t, elsewhere) {
		t.Error("b not placed flat in OEM")
	}
	for name, want := range map[string]string{"a": "/oem/extensions/a/a-1-x86-64.raw", "b": "/oem/sysext/b-1-x86-64.raw"} {
		if st := debugfsStat(t, out, "/etc/extensions/"+name+".raw"); st.link != want {
			t.Errorf("%s links to %q, want %q", name, st.link, want)
		}
		if got := string(debugfsCat(t, out, "/etc/sysupdate."+name+".d/"+name+".conf")); !strings.Contains(got, "CurrentSymlink=/etc/extensions/"+name+".raw") {
			t.Errorf("%s conf: %q", name, got)
		}
	}
}
