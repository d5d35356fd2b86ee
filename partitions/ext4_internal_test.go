package partitions

import (
	"context"
	"errors"
	"io/fs"
	"os"
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

// TestExt4AbsenceFromCache checks that a path below a missing directory
// or a regular file is answered from a cached listing of an ancestor,
// with no debugfs run (a fresh ROOT has no /etc: a bake asks about
// /etc/extensions, /etc/sysupdate.*.d, /var/lib/extensions, ...), and
// that the answers are those debugfs gives.
func TestExt4AbsenceFromCache(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "opt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink on the way is debugfs's to resolve, not the cache's.
	if err := os.Symlink("opt", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-d", root, img, "16M")
	ask := func(e *Ext4) []error {
		var errs []error
		for _, p := range []string{"/etc/extensions", "/etc/sysupdate.a.d", "/var/lib/extensions", "/f/x", "/opt/none", "/l/none"} {
			_, err := e.ReadDir(p)
			errs = append(errs, err)
		}
		return errs
	}
	// Without a cache: every answer from debugfs.
	cold, err := OpenExt4(img, 0, Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	var want []error
	for _, p := range []string{"/etc/extensions", "/etc/sysupdate.a.d", "/var/lib/extensions", "/f/x", "/opt/none", "/l/none"} {
		clear(cold.dirs)
		_, err := cold.ReadDir(p)
		want = append(want, err)
	}
	e, err := OpenExt4(img, 0, Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.ReadDir("/"); err != nil {
		t.Fatal(err)
	}
	start := e.runs
	got := ask(e)
	// The listing of / answers for /etc, /var and /f; /opt/none costs
	// two (its ls fails, then /opt is listed to learn why); /l/none,
	// through a symlink, two more.
	if n := e.runs - start; n > 4 {
		t.Errorf("%d debugfs runs, want at most 4", n)
	}
	for i, err := range got {
		if (err == nil) != (want[i] == nil) || errors.Is(err, fs.ErrNotExist) != errors.Is(want[i], fs.ErrNotExist) {
			t.Errorf("answer %d: %v, debugfs says %v", i, err, want[i])
		}
	}
	if !errors.Is(got[0], fs.ErrNotExist) || got[3] == nil || errors.Is(got[3], fs.ErrNotExist) {
		t.Errorf("answers: %v", got)
	}
}
