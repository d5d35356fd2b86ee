package partitions

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestExt4BatchesEdits checks that a bake-like series of edits costs few
// debugfs runs: listings are cached and edits are applied in one batch.
func TestExt4BatchesEdits(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "debugfs")
	img := filepath.Join(t.TempDir(), "img")
	if err := testimage.Generate(context.Background(), img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	var off int64
	for _, p := range flatcar.BaseLayout {
		if p.Label == flatcar.LabelROOT {
			off = int64(p.FirstSector) * 512
		}
	}
	e, err := OpenExt4(img, off, Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	start := e.runs
	for _, n := range []string{"a", "b", "c"} {
		if err := e.WriteFile("/opt/extensions/"+n+".raw", strings.NewReader(n), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := e.Symlink("/opt/extensions/"+n+".raw", "/etc/extensions/"+n+".raw"); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteFile("/etc/sysupdate."+n+".d/"+n+".conf", strings.NewReader("[Transfer]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Symlink("/dev/null", "/etc/extensions/docker-flatcar.raw"); err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	// ls of /, /opt and /etc (the rest is made here), plus the one batch.
	if got := e.runs - start; got > 4 {
		t.Errorf("%d debugfs runs for the edits, want at most 4", got)
	}
	list, err := e.ReadDir("/etc/extensions")
	if err != nil || len(list) != 4 {
		t.Fatalf("%v %v", list, err)
	}
	// A fresh editor sees the same (read from disk, not the cache).
	f, err := OpenExt4(img, off, Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	again, err := f.ReadDir("/etc/extensions")
	if err != nil || len(again) != 4 || again[0].LinkTarget != "/opt/extensions/a.raw" || again[3].LinkTarget != "/dev/null" {
		t.Errorf("%+v %v", again, err)
	}
}
