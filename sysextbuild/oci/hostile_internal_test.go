package oci

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
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

// ociLayoutOf writes an OCI image layout with the given layers (plain tar).
func ociLayoutOf(t *testing.T, layers ...[]rootfstest.TarEnt) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	var diffIDs []string
	var descs []any
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": ociWriteBlob(t, dir, b), "size": len(b)}
	}
	for _, l := range layers {
		b := rootfstest.MakeTar(t, l)
		diffIDs = append(diffIDs, ociDiffID(b))
		descs = append(descs, desc("application/vnd.oci.image.layer.v1.tar", b))
	}
	cfg := ociJSON(t, map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	manifest := ociJSON(t, map[string]any{"schemaVersion": 2,
		"mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":    desc("application/vnd.oci.image.config.v1+json", cfg), "layers": descs})
	md := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	index := ociJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{md}})
	rootfstest.Must(t, os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644))
	rootfstest.Must(t, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	return dir
}

func TestHostileOCIRootfs(t *testing.T) {
	v, snap := rootfstest.Victim(t)
	vr := strings.TrimPrefix(v, "/") // where an absolute link to v lands inside the root
	// A case's input is the image's layers.
	rootfstest.Hostile(t, snap, []rootfstest.Case[[][]rootfstest.TarEnt]{
		{Name: "top-level usr absolute, written by a later layer",
			In: [][]rootfstest.TarEnt{{{Name: "usr", Typ: tar.TypeSymlink, Link: v}},
				{{Name: "usr/evil", Body: "e"}, {Name: "usr/sub/", Typ: tar.TypeDir, Mode: 0o777}, {Name: "usr/file", Body: "e", Mode: 0o777}}},
			Check: func(t *testing.T, out string) {
				// Resolved as after chroot: the files land in ROOT/<victim path>.
				rootfstest.IsFile(t, filepath.Join(out, vr, "evil"), "e")
				rootfstest.IsFile(t, filepath.Join(out, vr, "file"), "e")
			}},
		{Name: "top-level usr relative escape",
			In:     [][]rootfstest.TarEnt{{{Name: "usr", Typ: tar.TypeSymlink, Link: rootfstest.Up + vr}}, {{Name: "usr/evil", Body: "e"}}},
			Refuse: rootfs.ErrPathEscapes.Error()},
		{Name: "mid-level usr/lib -> ../../.. then written",
			In:     [][]rootfstest.TarEnt{{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib", Typ: tar.TypeSymlink, Link: "../../.."}, {Name: "usr/lib/evil", Body: "e"}}},
			Refuse: rootfs.ErrPathEscapes.Error()},
		{Name: "mid-level absolute link, same layer",
			In: [][]rootfstest.TarEnt{{{Name: "usr/", Typ: tar.TypeDir}, {Name: "usr/lib", Typ: tar.TypeSymlink, Link: v + "/sub"},
				{Name: "usr/lib/deep", Body: "e", Mode: 0o700}}},
			Check: func(t *testing.T, out string) { rootfstest.IsFile(t, filepath.Join(out, vr, "sub/deep"), "e") }},
		{Name: "final component: link replaced by a file, a dir, a fifo",
			In: [][]rootfstest.TarEnt{
				{{Name: "f", Typ: tar.TypeSymlink, Link: v + "/file"}, {Name: "d", Typ: tar.TypeSymlink, Link: v}, {Name: "p", Typ: tar.TypeSymlink, Link: v + "/secret"}},
				{{Name: "f", Body: "new", Mode: 0o777}, {Name: "d/", Typ: tar.TypeDir, Mode: 0o777}, {Name: "p", Typ: tar.TypeFifo, Mode: 0o666}}},
			Check: func(t *testing.T, out string) {
				rootfstest.IsFile(t, filepath.Join(out, "f"), "new")
				if fi, err := os.Lstat(filepath.Join(out, "d")); err != nil || !fi.IsDir() {
					t.Errorf("d: %v %v", fi, err)
				}
			}},
		{Name: "whiteouts of a symlinked directory",
			In: [][]rootfstest.TarEnt{
				{{Name: "w", Typ: tar.TypeSymlink, Link: v}, {Name: "o", Typ: tar.TypeSymlink, Link: v}, {Name: "g", Typ: tar.TypeSymlink, Link: v}},
				{{Name: "w/.wh.file", Body: ""}, {Name: "w/.wh.sub", Body: ""}, {Name: "o/.wh..wh..opq", Body: ""}, {Name: ".wh.g", Body: ""}}},
			Check: func(t *testing.T, out string) {
				if _, err := os.Lstat(filepath.Join(out, "g")); err == nil {
					t.Error("whited-out link g is still there")
				}
				if l, _ := os.Readlink(filepath.Join(out, "w")); l != v {
					t.Errorf("link w = %q", l)
				}
			}},
		{Name: "whiteout through a relative escape",
			In:     [][]rootfstest.TarEnt{{{Name: "w", Typ: tar.TypeSymlink, Link: rootfstest.Up + vr}}, {{Name: "w/.wh.file", Body: ""}}},
			Refuse: rootfs.ErrPathEscapes.Error()},
		{Name: "hard link to a file outside",
			In:     [][]rootfstest.TarEnt{{{Name: "h", Typ: tar.TypeLink, Link: v + "/secret"}}},
			Refuse: "creating hardlink"},
		{Name: "hard link through a symlinked directory",
			In:     [][]rootfstest.TarEnt{{{Name: "s", Typ: tar.TypeSymlink, Link: rootfstest.Up + vr}, {Name: "h", Typ: tar.TypeLink, Link: "s/secret"}}},
			Refuse: rootfs.ErrPathEscapes.Error()},
		{Name: "hard link to a symlink pointing outside, then overwritten",
			In: [][]rootfstest.TarEnt{{{Name: "s", Typ: tar.TypeSymlink, Link: v + "/file"}, {Name: "h", Typ: tar.TypeLink, Link: "s"}},
				{{Name: "h", Body: "new"}, {Name: "s", Body: "new2"}}},
			Check: func(t *testing.T, out string) {
				rootfstest.IsFile(t, filepath.Join(out, "h"), "new")
				rootfstest.IsFile(t, filepath.Join(out, "s"), "new2")
			}},
	}, func(t *testing.T, c rootfstest.Case[[][]rootfstest.TarEnt]) (string, error) {
		out := filepath.Join(t.TempDir(), "rootfs")
		return out, Rootfs(context.Background(), Options{Image: ociLayoutOf(t, c.In...), Dir: out, Arch: flatcar.ArchX86_64})
	})
}
