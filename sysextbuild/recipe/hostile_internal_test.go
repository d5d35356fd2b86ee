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
	// in is a case's input: the archive's entries and the members mapped
	// from it (nil: extractAll, as for install scripts).
	type in struct {
		ents    []rootfstest.TarEnt
		members []Member
	}
	rootfstest.Hostile(t, snap, []rootfstest.Case[in]{
		{Name: "top-level usr absolute", In: in{ents: []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}, {Name: "usr/bin/x", Body: "e"}},
			members: all}, Refuse: "goes through the symlink usr"},
		{Name: "top-level usr absolute, install-script unpack", In: in{ents: []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}, {Name: "usr/bin/x", Body: "e"}}},
			Refuse: "goes through the symlink usr"},
		{Name: "mid-level relative escape", In: in{ents: []rootfstest.TarEnt{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib", Typ: tar.TypeSymlink, Link: rootfstest.Up + vr},
			{Name: "usr/lib/x", Body: "e"}}, members: all}, Refuse: "goes through the symlink usr/lib"},
		{Name: "mid-level directory entry through a link", In: in{ents: []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}, {Name: "usr/sub/", Typ: tar.TypeDir}}},
			Refuse: "goes through the symlink usr"},
		{Name: "final component link replaced by a file", In: in{ents: []rootfstest.TarEnt{{Name: "usr/bin/f", Typ: tar.TypeSymlink, Link: v + "/file"},
			{Name: "usr/bin/f", Body: "new", Mode: 0o777}}},
			Check: func(t *testing.T, tree string) { rootfstest.IsFile(t, filepath.Join(tree, "usr/bin/f"), "new") }},
		{Name: "member rewritten through a link another member placed", In: in{ents: []rootfstest.TarEnt{{Name: "l", Typ: tar.TypeSymlink, Link: v},
			{Name: "f", Body: "old"}},
			members: []Member{{Src: "l", Dest: "usr/share"}, {Src: "f", Dest: "usr/share/file", Replace: []Replacement{{From: "old", To: "new"}}}}},
			Refuse: "goes through the symlink usr/share"},
		{Name: "hard link read through a link planted later", In: in{ents: []rootfstest.TarEnt{{Name: "a", Body: "a"},
			{Name: "a", Typ: tar.TypeSymlink, Link: v + "/secret"}, {Name: "h", Typ: tar.TypeLink, Link: "a"}}},
			Refuse: "is now a symlink"},
		{Name: "hard link read through a directory replaced by a link", In: in{ents: []rootfstest.TarEnt{{Name: "d/secret", Body: "a"},
			{Name: "d", Typ: tar.TypeSymlink, Link: v}, {Name: "h", Typ: tar.TypeLink, Link: "d/secret"}}}, Refuse: "d is a symlink"},
	}, func(t *testing.T, c rootfstest.Case[in]) (string, error) {
		tree := filepath.Join(t.TempDir(), "tree")
		rootfstest.Must(t, os.Mkdir(tree, 0o755))
		a := write(t, c.In.ents...)
		if c.In.members != nil {
			return tree, extractMembers(a, Download{Format: "tar", Members: c.In.members}, tree)
		}
		return tree, extractAll(a, "tar", tree)
	})
}

// TestHostileRecipeTreeEdits: the recipe's own symlinks, generated files
// and removals never go through a link that an upstream archive planted.
func TestHostileRecipeTreeEdits(t *testing.T) {
	v, snap := rootfstest.Victim(t)
	// A case's input is the recipe, run over a tree where usr/share is a
	// link to the victim and usr/bin/f a link to its file.
	rootfstest.Hostile(t, snap, []rootfstest.Case[Recipe]{
		{Name: "removal through a planted link", In: Recipe{Remove: []Removal{{Paths: []string{"usr/share/sub", "usr/share/file"}}}},
			Refuse: "removing usr/share/sub"},
		{Name: "symlink through a planted link", In: Recipe{Symlinks: []Symlink{{Path: "usr/share/link2", Target: "x"}}},
			Refuse: "goes through the symlink usr/share"},
		{Name: "generated file through a planted link", In: Recipe{Generated: []Generated{{Path: "usr/share/x.service", Content: "x"}}},
			Refuse: "goes through the symlink usr/share"},
		{Name: "generated file replacing a planted final link", In: Recipe{Generated: []Generated{{Path: "usr/bin/f", Content: "x"}}},
			Check: func(t *testing.T, root string) { rootfstest.IsFile(t, filepath.Join(root, "usr/bin/f"), "x") }},
	}, func(t *testing.T, c rootfstest.Case[Recipe]) (string, error) {
		work := t.TempDir()
		root := filepath.Join(work, "root")
		rootfstest.Must(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
		rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/share")))
		rootfstest.Must(t, os.Symlink(v+"/file", filepath.Join(root, "usr/bin/f")))
		r := c.In
		r.Name = "hostile"
		r.Arch = map[flatcar.Arch]string{flatcar.ArchX86_64: "amd64"}
		b := &builder{r: r, o: CreateOptions{Version: "1.0", Arch: flatcar.ArchX86_64, Name: "hostile"}, work: work, root: root}
		return root, b.populate(context.Background())
	})
}
