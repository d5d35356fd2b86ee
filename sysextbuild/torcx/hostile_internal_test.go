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
	for _, c := range []struct {
		name   string
		extra  []rootfstest.TarEnt
		refuse string
		check  func(t *testing.T, tree string)
	}{
		{name: "top-level usr -> victim, bin moved under it",
			extra:  []rootfstest.TarEnt{{Name: "usr", Typ: tar.TypeSymlink, Link: v}},
			refuse: "goes through the symlink usr"},
		{name: "usr/lib -> victim, lib merged into it",
			extra:  []rootfstest.TarEnt{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib", Typ: tar.TypeSymlink, Link: v}},
			refuse: "cannot merge"},
		{name: "unit directory -> victim, units rewritten",
			extra: []rootfstest.TarEnt{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib/", Typ: tar.TypeDir}, {Name: "usr/lib/systemd/", Typ: tar.TypeDir},
				{Name: "usr/lib/systemd/system", Typ: tar.TypeSymlink, Link: v}},
			refuse: "cannot merge"},
		{name: "drop-in directory -> victim",
			extra:  []rootfstest.TarEnt{{Name: "lib/systemd/system/multi-user.target.d", Typ: tar.TypeSymlink, Link: v}},
			refuse: "goes through the symlink usr/lib/systemd/system/multi-user.target.d"},
		{name: "unit file -> victim's unit, rewrite skipped",
			extra: []rootfstest.TarEnt{{Name: "lib/systemd/system/x.service", Typ: tar.TypeSymlink, Link: v + "/x.service"}},
			check: func(t *testing.T, tree string) {
				if l, _ := os.Readlink(filepath.Join(tree, "usr/lib/systemd/system/x.service")); l != v+"/x.service" {
					t.Errorf("x.service link = %q", l)
				}
			}},
		{name: "unit file hard link outside",
			extra:  []rootfstest.TarEnt{{Name: "lib/systemd/system/y.service", Typ: tar.TypeLink, Link: v + "/x.service"}},
			refuse: "creating hardlink"},
		{name: ".torcx -> victim, removed",
			extra: []rootfstest.TarEnt{{Name: ".torcx", Typ: tar.TypeSymlink, Link: v}},
			check: func(t *testing.T, tree string) {
				if _, err := os.Lstat(filepath.Join(tree, ".torcx")); err == nil {
					t.Error(".torcx kept")
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			ents := c.extra
			// A .torcx symlink must replace the directory, so it comes last;
			// everything else is planted before the regular entries.
			tarball := makeTorcxTarball(t, ents...)
			if !strings.HasPrefix(c.name, ".torcx") && !strings.HasPrefix(c.name, "unit file") {
				tarball = makeTorcxTarballFirst(t, ents...)
			}
			tree := filepath.Join(t.TempDir(), "tree")
			err := buildTorcxTree(context.Background(), Options{Tarball: tarball, Name: "docker"}, tree)
			rootfstest.Expect(t, err, c.refuse, func() {
				rootfstest.IsFile(t, filepath.Join(tree, "usr/bin/dockerd"), "#!/bin/sh\n")
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
