package recipe

// Hostile input (see rootfstest.Victim): nothing outside the work
// directory changes, whatever the planted links.

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

func TestHostileRecipeExtraction(t *testing.T) {
	v, snap := rootfstest.Victim(t)
	vr := strings.TrimPrefix(v, "/")
	write := func(t *testing.T, ents ...rootfstest.TarEnt) string {
		p := filepath.Join(t.TempDir(), "a.tar")
		rootfstest.Must(t, os.WriteFile(p, rootfstest.MakeTar(t, ents), 0o644))
		return p
	}
	all := []Member{{Src: "", Dest: ""}}
	for _, c := range []struct {
		name    string
		ents    []rootfstest.TarEnt
		members []Member // nil: extractAll (install scripts)
		refuse  string
		check   func(t *testing.T, tree string)
	}{
		{name: "top-level usr absolute", ents: []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}, {Name: "usr/bin/x", Body: "e"}},
			members: all, refuse: "goes through the symlink usr"},
		{name: "top-level usr absolute, install-script unpack", ents: []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}, {Name: "usr/bin/x", Body: "e"}},
			refuse: "goes through the symlink usr"},
		{name: "mid-level relative escape", ents: []rootfstest.TarEnt{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib", Typ: tar.TypeSymlink, Link: rootfstest.Up + vr},
			{Name: "usr/lib/x", Body: "e"}}, members: all, refuse: "goes through the symlink usr/lib"},
		{name: "mid-level directory entry through a link", ents: []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}, {Name: "usr/sub/", Typ: tar.TypeDir}},
			refuse: "goes through the symlink usr"},
		{name: "final component link replaced by a file", ents: []rootfstest.TarEnt{{Name: "usr/bin/f", Typ: tar.TypeSymlink, Link: v + "/file"},
			{Name: "usr/bin/f", Body: "new", Mode: 0o777}},
			check: func(t *testing.T, tree string) { rootfstest.IsFile(t, filepath.Join(tree, "usr/bin/f"), "new") }},
		{name: "member rewritten through a link another member placed", ents: []rootfstest.TarEnt{{Name: "l", Typ: tar.TypeSymlink, Link: v},
			{Name: "f", Body: "old"}},
			members: []Member{{Src: "l", Dest: "usr/share"}, {Src: "f", Dest: "usr/share/file", Replace: []Replacement{{From: "old", To: "new"}}}},
			refuse:  "goes through the symlink usr/share"},
		{name: "hard link read through a link planted later", ents: []rootfstest.TarEnt{{Name: "a", Body: "a"},
			{Name: "a", Typ: tar.TypeSymlink, Link: v + "/secret"}, {Name: "h", Typ: tar.TypeLink, Link: "a"}},
			refuse: "is now a symlink"},
		{name: "hard link read through a directory replaced by a link", ents: []rootfstest.TarEnt{{Name: "d/secret", Body: "a"},
			{Name: "d", Typ: tar.TypeSymlink, Link: v}, {Name: "h", Typ: tar.TypeLink, Link: "d/secret"}}, refuse: "d is a symlink"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			tree := filepath.Join(t.TempDir(), "tree")
			rootfstest.Must(t, os.Mkdir(tree, 0o755))
			a := write(t, c.ents...)
			var err error
			if c.members != nil {
				err = extractMembers(a, Download{Format: "tar", Members: c.members}, tree)
			} else {
				err = extractAll(a, "tar", tree)
			}
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

// TestHostileRecipeTreeEdits: the recipe's own symlinks, generated files
// and removals never go through a link that an upstream archive planted.
func TestHostileRecipeTreeEdits(t *testing.T) {
	v, snap := rootfstest.Victim(t)
	for _, c := range []struct {
		name   string
		r      Recipe
		refuse string
	}{
		{name: "removal through a planted link", r: Recipe{Remove: []Removal{{Paths: []string{"usr/share/sub", "usr/share/file"}}}},
			refuse: "removing usr/share/sub"},
		{name: "symlink through a planted link", r: Recipe{Symlinks: []Symlink{{Path: "usr/share/link2", Target: "x"}}},
			refuse: "goes through the symlink usr/share"},
		{name: "generated file through a planted link", r: Recipe{Generated: []Generated{{Path: "usr/share/x.service", Content: "x"}}},
			refuse: "goes through the symlink usr/share"},
		{name: "generated file replacing a planted final link", r: Recipe{Generated: []Generated{{Path: "usr/bin/f", Content: "x"}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			work := t.TempDir()
			root := filepath.Join(work, "root")
			rootfstest.Must(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
			rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/share")))
			rootfstest.Must(t, os.Symlink(v+"/file", filepath.Join(root, "usr/bin/f")))
			c.r.Name = "hostile"
			c.r.Arch = map[flatcar.Arch]string{flatcar.ArchX86_64: "amd64"}
			b := &builder{r: c.r, o: CreateOptions{Version: "1.0", Arch: flatcar.ArchX86_64, Name: "hostile"}, work: work, root: root}
			err := b.populate(context.Background())
			rootfstest.Expect(t, err, c.refuse, func() {
				if c.r.Generated != nil {
					rootfstest.IsFile(t, filepath.Join(root, "usr/bin/f"), "x")
				}
			})
			if after := snap(); after != before {
				t.Errorf("victim changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
