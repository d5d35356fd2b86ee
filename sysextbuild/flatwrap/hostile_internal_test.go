package flatwrap

// Hostile input (see rootfstest.Victim): nothing outside the work
// directory changes, whatever the planted links.

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

func TestHostileFlatwrap(t *testing.T) {
	v, snap := rootfstest.Victim(t)
	mkRootfs := func(t *testing.T) string {
		root := filepath.Join(t.TempDir(), "rootfs")
		rootfstest.Write(t, filepath.Join(root, "usr/bin/tool"), "#!/bin/sh\n")
		rootfstest.Must(t, os.Chmod(filepath.Join(root, "usr/bin/tool"), 0o755))
		rootfstest.Write(t, filepath.Join(root, "usr/share/data"), "data\n")
		return root
	}
	// in is a case's input: links planted in the root filesystem and the
	// paths flatwrap is asked to ship.
	type in struct {
		plant func(t *testing.T, root string)
		paths []string
	}
	rootfstest.Hostile(t, snap, []rootfstest.Case[in]{
		{Name: "helper name is a link to the victim's file",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(v+"/file", filepath.Join(root, "unshare-helper")))
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "mount-dir")))
			}, paths: []string{"/usr/bin/tool"}},
			Check: func(t *testing.T, tree string) {
				if fi, err := os.Lstat(filepath.Join(tree, "usr/local/fw/unshare-helper")); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("helper: %v %v", fi, err)
				}
				if fi, err := os.Lstat(filepath.Join(tree, "usr/local/fw/mount-dir")); err != nil || !fi.IsDir() {
					t.Errorf("mount-dir: %v %v", fi, err)
				}
			}},
		{Name: "wrapper destination through a copied link",
			In: in{plant: func(t *testing.T, root string) { rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "evil"))) },
				paths: []string{"/usr/bin/tool:/usr/local/fw/evil/tool"}}, Refuse: "goes through the symlink usr/local/fw/evil"},
		{Name: "source through an absolute link stays in the root",
			In: in{plant: func(t *testing.T, root string) { rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/share/v"))) },
				paths: []string{"/usr/share/v/file"}}, Refuse: "not found"},
		{Name: "source through a relative escape",
			In: in{plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(rootfstest.Up+v, filepath.Join(root, "usr/share/v")))
			}, paths: []string{"/usr/share/v/file"}}, Refuse: rootfs.ErrPathEscapes.Error()},
	}, func(t *testing.T, c rootfstest.Case[in]) (string, error) {
		root := mkRootfs(t)
		c.In.plant(t, root)
		tree := filepath.Join(t.TempDir(), "tree")
		return tree, buildFlatwrapTree(context.Background(), Options{Rootfs: root, Name: "fw", Paths: c.In.paths}, tree)
	})
}
