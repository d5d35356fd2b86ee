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
	for _, c := range []struct {
		name   string
		plant  func(t *testing.T, root string)
		paths  []string
		refuse string
		check  func(t *testing.T, tree string)
	}{
		{name: "helper name is a link to the victim's file",
			plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(v+"/file", filepath.Join(root, "unshare-helper")))
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "mount-dir")))
			},
			paths: []string{"/usr/bin/tool"},
			check: func(t *testing.T, tree string) {
				if fi, err := os.Lstat(filepath.Join(tree, "usr/local/fw/unshare-helper")); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("helper: %v %v", fi, err)
				}
				if fi, err := os.Lstat(filepath.Join(tree, "usr/local/fw/mount-dir")); err != nil || !fi.IsDir() {
					t.Errorf("mount-dir: %v %v", fi, err)
				}
			}},
		{name: "wrapper destination through a copied link",
			plant: func(t *testing.T, root string) { rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "evil"))) },
			paths: []string{"/usr/bin/tool:/usr/local/fw/evil/tool"}, refuse: "goes through the symlink usr/local/fw/evil"},
		{name: "source through an absolute link stays in the root",
			plant: func(t *testing.T, root string) { rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/share/v"))) },
			paths: []string{"/usr/share/v/file"}, refuse: "not found"},
		{name: "source through a relative escape",
			plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(rootfstest.Up+v, filepath.Join(root, "usr/share/v")))
			},
			paths: []string{"/usr/share/v/file"}, refuse: rootfs.ErrPathEscapes.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			root := mkRootfs(t)
			c.plant(t, root)
			tree := filepath.Join(t.TempDir(), "tree")
			err := buildFlatwrapTree(context.Background(), Options{Rootfs: root, Name: "fw", Paths: c.paths}, tree)
			rootfstest.Expect(t, err, c.refuse, func() {
				if c.check != nil {
					c.check(t, tree)
				}
			})
			if after := snap(); after != before {
				t.Errorf("victim changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
