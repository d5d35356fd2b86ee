package torcx

// Hostile input (see rootfstest.Victim): nothing outside the work
// directory changes, whatever the planted links.

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

func TestHostileTorcx(t *testing.T) {
	v, snap := rootfstest.Victim(t)
	// A case's input is the entries planted in the tarball.
	rootfstest.Hostile(t, snap, []rootfstest.Case[[]rootfstest.TarEnt]{
		{Name: "top-level usr -> victim, bin moved under it",
			In:     []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}},
			Refuse: "goes through the symlink usr"},
		{Name: "usr/lib -> victim, lib merged into it",
			In:     []rootfstest.TarEnt{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib", Typ: tar.TypeSymlink, Link: v}},
			Refuse: "cannot merge"},
		{Name: "unit directory -> victim, units rewritten",
			In: []rootfstest.TarEnt{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib/", Typ: tar.TypeDir}, {Name: "usr/lib/systemd/", Typ: tar.TypeDir},
				{Name: "usr/lib/systemd/system", Typ: tar.TypeSymlink, Link: v}},
			Refuse: "cannot merge"},
		{Name: "drop-in directory -> victim",
			In:     []rootfstest.TarEnt{{Name: "lib/systemd/system/multi-user.target.d", Typ: tar.TypeSymlink, Link: v}},
			Refuse: "goes through the symlink usr/lib/systemd/system/multi-user.target.d"},
		{Name: "unit file -> victim's unit, rewrite skipped",
			In: []rootfstest.TarEnt{{Name: "lib/systemd/system/x.service", Typ: tar.TypeSymlink, Link: v + "/x.service"}},
			Check: func(t *testing.T, tree string) {
				if l, _ := os.Readlink(filepath.Join(tree, "usr/lib/systemd/system/x.service")); l != v+"/x.service" {
					t.Errorf("x.service link = %q", l)
				}
			}},
		{Name: "unit file hard link outside",
			In:     []rootfstest.TarEnt{{Name: "lib/systemd/system/y.service", Typ: tar.TypeLink, Link: v + "/x.service"}},
			Refuse: "creating hardlink"},
		{Name: ".torcx -> victim, removed",
			In: []rootfstest.TarEnt{{Name: ".torcx", Typ: tar.TypeSymlink, Link: v}},
			Check: func(t *testing.T, tree string) {
				if _, err := os.Lstat(filepath.Join(tree, ".torcx")); err == nil {
					t.Error(".torcx kept")
				}
			}},
	}, func(t *testing.T, c rootfstest.Case[[]rootfstest.TarEnt]) (string, error) {
		// A .torcx symlink must replace the directory, so it comes last;
		// everything else is planted before the regular entries.
		var tarball string
		if strings.HasPrefix(c.Name, ".torcx") || strings.HasPrefix(c.Name, "unit file") {
			tarball = makeTorcxTarball(t, c.In...)
		} else {
			tarball = makeTorcxTarballFirst(t, c.In...)
		}
		tree := filepath.Join(t.TempDir(), "tree")
		err := buildTorcxTree(context.Background(), Options{Tarball: tarball, Name: "docker"}, tree)
		if err == nil && c.Refuse == "" {
			// Every tree built, whatever was planted, holds the payload.
			rootfstest.IsFile(t, filepath.Join(tree, "usr/bin/dockerd"), "#!/bin/sh\n")
		}
		return tree, err
	})
}

// makeTorcxTarballFirst is makeTorcxTarball with the planted entries
// first, so that the regular entries are written through them.
func makeTorcxTarballFirst(t *testing.T, planted ...rootfstest.TarEnt) string {
	t.Helper()
	p := makeTorcxTarball(t)
	f, err := os.Open(p)
	rootfstest.Must(t, err)
	defer f.Close()
	r, err := torcxDecompress(f)
	rootfstest.Must(t, err)
	ents := append([]rootfstest.TarEnt(nil), planted...)
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b := make([]byte, h.Size)
		_, _ = tr.Read(b)
		ents = append(ents, rootfstest.TarEnt{Name: h.Name, Typ: h.Typeflag, Link: h.Linkname, Mode: h.Mode, Body: string(b)})
	}
	out := filepath.Join(t.TempDir(), "planted.torcx.tar")
	rootfstest.Must(t, os.WriteFile(out, rootfstest.MakeTar(t, ents), 0o644))
	return out
}
