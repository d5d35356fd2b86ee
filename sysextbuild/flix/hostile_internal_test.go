package flix

// Hostile input (see rootfstest.Victim): nothing outside the work
// directory changes, whatever the planted links.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

func TestHostileFlix(t *testing.T) {
	testutil.RequireTool(t, "patchelf", "ldd")
	v, snap := rootfstest.Victim(t)
	base := rootfstest.HostRootfs(t, "cat")
	// in is a case's input: links planted in the root filesystem and the
	// paths flix is asked to ship.
	type in struct {
		plant func(t *testing.T, root string)
		paths []string
	}
	rootfstest.Hostile(t, snap, []rootfstest.Case[in]{
		{Name: "destination through a link copied by an earlier path",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Write(t, filepath.Join(root, "usr/share/foo/a"), "a")
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/share/foo/x")))
			}, paths: []string{"/usr/share/foo", "/usr/bin/cat:/usr/share/foo/x/cat"}},
			Refuse: "goes through the symlink usr/share/foo/x"},
		{Name: "final component: a copied link replaced by a later path",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Write(t, filepath.Join(root, "usr/share/foo/a"), "a")
				rootfstest.Must(t, os.Symlink(v+"/file", filepath.Join(root, "usr/share/foo/x")))
			}, paths: []string{"/usr/share/foo", "/usr/share/foo/a:/usr/share/foo/x"}},
			Check: func(t *testing.T, tree string) { rootfstest.IsFile(t, filepath.Join(tree, "usr/share/foo/x"), "a") }},
		{Name: "top-level usr -> victim",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Rename(filepath.Join(root, "usr"), filepath.Join(root, "usr.real")))
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr")))
			}, paths: []string{"/usr/file"}}, Refuse: "not found"},
		{Name: "binary is a relative escape",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(rootfstest.Up+v+"/file", filepath.Join(root, "usr/bin/k")))
			}, paths: []string{"/usr/bin/k"}}, Refuse: rootfs.ErrPathEscapes.Error()},
		{Name: "library directory -> victim",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/lib/evil")))
				rootfstest.Write(t, filepath.Join(root, "etc/ld.so.conf.d/0.conf"), "/usr/lib/evil\n")
			}, paths: []string{"/usr/bin/cat"}},
			Check: func(t *testing.T, tree string) {
				if _, err := os.Stat(filepath.Join(tree, "usr/local/cattest/libc.so.6")); err != nil {
					t.Error(err)
				}
			}},
	}, func(t *testing.T, c rootfstest.Case[in]) (string, error) {
		root := filepath.Join(t.TempDir(), "rootfs")
		rootfstest.Must(t, exec0(t, "cp", "-a", base, root))
		c.In.plant(t, root)
		tree := filepath.Join(t.TempDir(), "tree")
		return tree, buildFlixTree(context.Background(), Options{Rootfs: root, Name: "cattest", Paths: c.In.paths}, tree)
	})
}

func exec0(t *testing.T, name string, args ...string) error {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return nil
}

// TestHostileFlixPatch: patchelf is never pointed at a path it could
// follow out of the tree; a file replaced by a symlink is refused.
func TestHostileFlixPatch(t *testing.T) {
	testutil.RequireTool(t, "patchelf")
	pe, err := flixFindPatchelf()
	rootfstest.Must(t, err)
	catPath, err := exec.LookPath("cat")
	rootfstest.Must(t, err)
	catPath, err = filepath.EvalSymlinks(catPath)
	rootfstest.Must(t, err)
	victim := filepath.Join(t.TempDir(), "victim-cat")
	rootfstest.CopyHostFile(t, catPath, victim)
	before, err := os.ReadFile(victim)
	rootfstest.Must(t, err)
	tree := t.TempDir()
	rootfstest.CopyHostFile(t, catPath, filepath.Join(tree, "usr/bin/cat"))
	rootfstest.Must(t, os.Symlink(victim, filepath.Join(tree, "usr/bin/link")))
	root := rootfstest.OpenRoot(t, tree)
	if err := flixPatch(context.Background(), pe, root, "usr/bin/link", "/usr/local/x/ld.so", "/usr/local/x"); err == nil {
		t.Error("patching through a symlink succeeded")
	}
	if after, _ := os.ReadFile(victim); string(after) != string(before) {
		t.Error("victim patched through the symlink")
	}
	// The real file is patched in place, read back by patchelf itself.
	rootfstest.Must(t, flixPatch(context.Background(), pe, root, "usr/bin/cat", "/usr/local/x/ld.so", "/usr/local/x"))
	out, err := exec.Command(pe, "--print-interpreter", "--print-rpath", filepath.Join(tree, "usr/bin/cat")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/usr/local/x/ld.so\n/usr/local/x\n") {
		t.Errorf("patched cat: %s %v", out, err)
	}
}
