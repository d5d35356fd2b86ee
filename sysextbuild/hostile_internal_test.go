package sysextbuild

// Builders never write outside their work directory: every builder is
// fed archives and root filesystems with symlinks planted at every level
// (top-level usr, a middle directory, the final component, a link made by
// an earlier entry and written through by a later one, a whited-out
// symlinked directory, hard links to outside files) pointing at a victim
// directory outside the work directory. The victim's names, modes, owners,
// times and content hashes are recorded before and compared after; each
// case states whether the build must refuse (and with what) or produce a
// correct tree (and which).

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

// fxVictim creates a directory outside every work directory holding a
// file, a private file, a subdirectory and a unit file, and returns it
// with a function describing its whole state (names, types, modes,
// owners, mtimes, content hashes, link targets).
func fxVictim(t *testing.T) (string, func() string) {
	t.Helper()
	v := filepath.Join(t.TempDir(), "victim")
	rootfstest.Write(t, filepath.Join(v, "file"), "victim file\n")
	rootfstest.Write(t, filepath.Join(v, "secret"), "victim secret\n")
	rootfstest.Must(t, os.Chmod(filepath.Join(v, "secret"), 0o600))
	rootfstest.Write(t, filepath.Join(v, "sub/deep"), "deep\n")
	rootfstest.Write(t, filepath.Join(v, "x.service"), "[Service]\nEnvironmentFile=/run/metadata/torcx\n")
	rootfstest.Must(t, os.Symlink("file", filepath.Join(v, "link")))
	snap := func() string {
		var lines []string
		err := filepath.Walk(v, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(v, p)
			st := fi.Sys().(*syscall.Stat_t)
			line := fmt.Sprintf("%s %v %d:%d %d", rel, fi.Mode(), st.Uid, st.Gid, fi.ModTime().UnixNano())
			switch {
			case fi.Mode()&os.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				line += " -> " + l
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h := sha256.Sum256(b)
				line += " " + hex.EncodeToString(h[:8])
			}
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	return v, snap
}

// fxUp is a relative path that climbs to the host's / from any directory
// less than 30 levels deep, so that up+victim names the victim from
// anywhere in a work directory.
var fxUp = strings.Repeat("../", 30)

// fxExpect checks a build's outcome: refuse non-empty means the build must
// fail with an error containing it; otherwise it must succeed and check
// (if set) inspects the result.
func fxExpect(t *testing.T, err error, refuse string, check func()) {
	t.Helper()
	if refuse != "" {
		if err == nil || !strings.Contains(err.Error(), refuse) {
			t.Errorf("want a refusal containing %q, got %v", refuse, err)
		}
		return
	}
	if err != nil {
		t.Errorf("want a correct tree, got %v", err)
		return
	}
	if check != nil {
		check()
	}
}

// fxIsFile checks that p is a regular file with the given content.
func fxIsFile(t *testing.T, p, content string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: want a regular file, got %v %v", p, fi, err)
		return
	}
	if b, _ := os.ReadFile(p); string(b) != content {
		t.Errorf("%s = %q, want %q", p, b, content)
	}
}

// ociLayoutOf writes an OCI image layout with the given layers (plain tar).
func ociLayoutOf(t *testing.T, layers ...[]ociTarEnt) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	var diffIDs []string
	var descs []any
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": ociWriteBlob(t, dir, b), "size": len(b)}
	}
	for _, l := range layers {
		b := ociMakeTar(t, l)
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
	v, snap := fxVictim(t)
	vr := strings.TrimPrefix(v, "/") // where an absolute link to v lands inside the root
	for _, c := range []struct {
		name   string
		layers [][]ociTarEnt
		refuse string
		check  func(t *testing.T, out string)
	}{
		{name: "top-level usr absolute, written by a later layer",
			layers: [][]ociTarEnt{{{name: "usr", typ: tar.TypeSymlink, link: v}},
				{{name: "usr/evil", body: "e"}, {name: "usr/sub/", typ: tar.TypeDir, mode: 0o777}, {name: "usr/file", body: "e", mode: 0o777}}},
			check: func(t *testing.T, out string) {
				// Resolved as after chroot: the files land in ROOT/<victim path>.
				fxIsFile(t, filepath.Join(out, vr, "evil"), "e")
				fxIsFile(t, filepath.Join(out, vr, "file"), "e")
			}},
		{name: "top-level usr relative escape",
			layers: [][]ociTarEnt{{{name: "usr", typ: tar.TypeSymlink, link: fxUp + vr}}, {{name: "usr/evil", body: "e"}}},
			refuse: rootfs.ErrPathEscapes.Error()},
		{name: "mid-level usr/lib -> ../../.. then written",
			layers: [][]ociTarEnt{{{name: "usr/", typ: tar.TypeDir}, {name: "usr/lib", typ: tar.TypeSymlink, link: "../../.."}, {name: "usr/lib/evil", body: "e"}}},
			refuse: rootfs.ErrPathEscapes.Error()},
		{name: "mid-level absolute link, same layer",
			layers: [][]ociTarEnt{{{name: "usr/", typ: tar.TypeDir}, {name: "usr/lib", typ: tar.TypeSymlink, link: v + "/sub"},
				{name: "usr/lib/deep", body: "e", mode: 0o700}}},
			check: func(t *testing.T, out string) { fxIsFile(t, filepath.Join(out, vr, "sub/deep"), "e") }},
		{name: "final component: link replaced by a file, a dir, a fifo",
			layers: [][]ociTarEnt{
				{{name: "f", typ: tar.TypeSymlink, link: v + "/file"}, {name: "d", typ: tar.TypeSymlink, link: v}, {name: "p", typ: tar.TypeSymlink, link: v + "/secret"}},
				{{name: "f", body: "new", mode: 0o777}, {name: "d/", typ: tar.TypeDir, mode: 0o777}, {name: "p", typ: tar.TypeFifo, mode: 0o666}}},
			check: func(t *testing.T, out string) {
				fxIsFile(t, filepath.Join(out, "f"), "new")
				if fi, err := os.Lstat(filepath.Join(out, "d")); err != nil || !fi.IsDir() {
					t.Errorf("d: %v %v", fi, err)
				}
			}},
		{name: "whiteouts of a symlinked directory",
			layers: [][]ociTarEnt{
				{{name: "w", typ: tar.TypeSymlink, link: v}, {name: "o", typ: tar.TypeSymlink, link: v}, {name: "g", typ: tar.TypeSymlink, link: v}},
				{{name: "w/.wh.file", body: ""}, {name: "w/.wh.sub", body: ""}, {name: "o/.wh..wh..opq", body: ""}, {name: ".wh.g", body: ""}}},
			check: func(t *testing.T, out string) {
				if _, err := os.Lstat(filepath.Join(out, "g")); err == nil {
					t.Error("whited-out link g is still there")
				}
				if l, _ := os.Readlink(filepath.Join(out, "w")); l != v {
					t.Errorf("link w = %q", l)
				}
			}},
		{name: "whiteout through a relative escape",
			layers: [][]ociTarEnt{{{name: "w", typ: tar.TypeSymlink, link: fxUp + vr}}, {{name: "w/.wh.file", body: ""}}},
			refuse: rootfs.ErrPathEscapes.Error()},
		{name: "hard link to a file outside",
			layers: [][]ociTarEnt{{{name: "h", typ: tar.TypeLink, link: v + "/secret"}}},
			refuse: "creating hardlink"},
		{name: "hard link through a symlinked directory",
			layers: [][]ociTarEnt{{{name: "s", typ: tar.TypeSymlink, link: fxUp + vr}, {name: "h", typ: tar.TypeLink, link: "s/secret"}}},
			refuse: rootfs.ErrPathEscapes.Error()},
		{name: "hard link to a symlink pointing outside, then overwritten",
			layers: [][]ociTarEnt{{{name: "s", typ: tar.TypeSymlink, link: v + "/file"}, {name: "h", typ: tar.TypeLink, link: "s"}},
				{{name: "h", body: "new"}, {name: "s", body: "new2"}}},
			check: func(t *testing.T, out string) {
				fxIsFile(t, filepath.Join(out, "h"), "new")
				fxIsFile(t, filepath.Join(out, "s"), "new2")
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			out := filepath.Join(t.TempDir(), "rootfs")
			err := OCIRootfs(context.Background(), OCIOptions{Image: ociLayoutOf(t, c.layers...), Dir: out, Arch: flatcar.ArchX86_64})
			fxExpect(t, err, c.refuse, func() {
				if c.check != nil {
					c.check(t, out)
				}
			})
			if after := snap(); after != before {
				t.Errorf("victim changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestHostileTorcx(t *testing.T) {
	v, snap := fxVictim(t)
	for _, c := range []struct {
		name   string
		extra  []ociTarEnt
		refuse string
		check  func(t *testing.T, tree string)
	}{
		{name: "top-level usr -> victim, bin moved under it",
			extra:  []ociTarEnt{{name: "usr", typ: tar.TypeSymlink, link: v}},
			refuse: "goes through the symlink usr"},
		{name: "usr/lib -> victim, lib merged into it",
			extra:  []ociTarEnt{{name: "usr/", typ: tar.TypeDir}, {name: "usr/lib", typ: tar.TypeSymlink, link: v}},
			refuse: "cannot merge"},
		{name: "unit directory -> victim, units rewritten",
			extra: []ociTarEnt{{name: "usr/", typ: tar.TypeDir}, {name: "usr/lib/", typ: tar.TypeDir}, {name: "usr/lib/systemd/", typ: tar.TypeDir},
				{name: "usr/lib/systemd/system", typ: tar.TypeSymlink, link: v}},
			refuse: "cannot merge"},
		{name: "drop-in directory -> victim",
			extra:  []ociTarEnt{{name: "lib/systemd/system/multi-user.target.d", typ: tar.TypeSymlink, link: v}},
			refuse: "goes through the symlink usr/lib/systemd/system/multi-user.target.d"},
		{name: "unit file -> victim's unit, rewrite skipped",
			extra: []ociTarEnt{{name: "lib/systemd/system/x.service", typ: tar.TypeSymlink, link: v + "/x.service"}},
			check: func(t *testing.T, tree string) {
				if l, _ := os.Readlink(filepath.Join(tree, "usr/lib/systemd/system/x.service")); l != v+"/x.service" {
					t.Errorf("x.service link = %q", l)
				}
			}},
		{name: "unit file hard link outside",
			extra:  []ociTarEnt{{name: "lib/systemd/system/y.service", typ: tar.TypeLink, link: v + "/x.service"}},
			refuse: "creating hardlink"},
		{name: ".torcx -> victim, removed",
			extra: []ociTarEnt{{name: ".torcx", typ: tar.TypeSymlink, link: v}},
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
			err := buildTorcxTree(context.Background(), TorcxOptions{Tarball: tarball, Name: "docker"}, tree)
			fxExpect(t, err, c.refuse, func() {
				fxIsFile(t, filepath.Join(tree, "usr/bin/dockerd"), "#!/bin/sh\n")
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
func makeTorcxTarballFirst(t *testing.T, planted ...ociTarEnt) string {
	t.Helper()
	p := makeTorcxTarball(t)
	f, err := os.Open(p)
	rootfstest.Must(t, err)
	defer f.Close()
	r, err := torcxDecompress(f)
	rootfstest.Must(t, err)
	ents := append([]ociTarEnt(nil), planted...)
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b := make([]byte, h.Size)
		_, _ = tr.Read(b)
		ents = append(ents, ociTarEnt{name: h.Name, typ: h.Typeflag, link: h.Linkname, mode: h.Mode, body: string(b)})
	}
	out := filepath.Join(t.TempDir(), "planted.torcx.tar")
	rootfstest.Must(t, os.WriteFile(out, ociMakeTar(t, ents), 0o644))
	return out
}

func TestHostileRecipeExtraction(t *testing.T) {
	v, snap := fxVictim(t)
	vr := strings.TrimPrefix(v, "/")
	write := func(t *testing.T, ents ...ociTarEnt) string {
		p := filepath.Join(t.TempDir(), "a.tar")
		rootfstest.Must(t, os.WriteFile(p, ociMakeTar(t, ents), 0o644))
		return p
	}
	all := []Member{{Src: "", Dest: ""}}
	for _, c := range []struct {
		name    string
		ents    []ociTarEnt
		members []Member // nil: extractAll (install scripts)
		refuse  string
		check   func(t *testing.T, tree string)
	}{
		{name: "top-level usr absolute", ents: []ociTarEnt{{name: "usr", typ: tar.TypeSymlink, link: v}, {name: "usr/bin/x", body: "e"}},
			members: all, refuse: "goes through the symlink usr"},
		{name: "top-level usr absolute, install-script unpack", ents: []ociTarEnt{{name: "usr", typ: tar.TypeSymlink, link: v}, {name: "usr/bin/x", body: "e"}},
			refuse: "goes through the symlink usr"},
		{name: "mid-level relative escape", ents: []ociTarEnt{{name: "usr/", typ: tar.TypeDir}, {name: "usr/lib", typ: tar.TypeSymlink, link: fxUp + vr},
			{name: "usr/lib/x", body: "e"}}, members: all, refuse: "goes through the symlink usr/lib"},
		{name: "mid-level directory entry through a link", ents: []ociTarEnt{{name: "usr", typ: tar.TypeSymlink, link: v}, {name: "usr/sub/", typ: tar.TypeDir}},
			refuse: "goes through the symlink usr"},
		{name: "final component link replaced by a file", ents: []ociTarEnt{{name: "usr/bin/f", typ: tar.TypeSymlink, link: v + "/file"},
			{name: "usr/bin/f", body: "new", mode: 0o777}},
			check: func(t *testing.T, tree string) { fxIsFile(t, filepath.Join(tree, "usr/bin/f"), "new") }},
		{name: "member rewritten through a link another member placed", ents: []ociTarEnt{{name: "l", typ: tar.TypeSymlink, link: v},
			{name: "f", body: "old"}},
			members: []Member{{Src: "l", Dest: "usr/share"}, {Src: "f", Dest: "usr/share/file", Replace: []Replacement{{From: "old", To: "new"}}}},
			refuse:  "goes through the symlink usr/share"},
		{name: "hard link read through a link planted later", ents: []ociTarEnt{{name: "a", body: "a"},
			{name: "a", typ: tar.TypeSymlink, link: v + "/secret"}, {name: "h", typ: tar.TypeLink, link: "a"}},
			refuse: "is now a symlink"},
		{name: "hard link read through a directory replaced by a link", ents: []ociTarEnt{{name: "d/secret", body: "a"},
			{name: "d", typ: tar.TypeSymlink, link: v}, {name: "h", typ: tar.TypeLink, link: "d/secret"}}, refuse: "d is a symlink"},
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
			fxExpect(t, err, c.refuse, func() {
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
	v, snap := fxVictim(t)
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
			fxExpect(t, err, c.refuse, func() {
				if c.r.Generated != nil {
					fxIsFile(t, filepath.Join(root, "usr/bin/f"), "x")
				}
			})
			if after := snap(); after != before {
				t.Errorf("victim changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestHostileFlatwrap(t *testing.T) {
	v, snap := fxVictim(t)
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
				rootfstest.Must(t, os.Symlink(fxUp+v, filepath.Join(root, "usr/share/v")))
			},
			paths: []string{"/usr/share/v/file"}, refuse: rootfs.ErrPathEscapes.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			root := mkRootfs(t)
			c.plant(t, root)
			tree := filepath.Join(t.TempDir(), "tree")
			err := buildFlatwrapTree(context.Background(), FlatwrapOptions{Rootfs: root, Name: "fw", Paths: c.paths}, tree)
			fxExpect(t, err, c.refuse, func() {
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

func TestHostileFlix(t *testing.T) {
	testutil.RequireTool(t, "patchelf", "ldd")
	v, snap := fxVictim(t)
	base := rootfstest.HostRootfs(t, "cat")
	for _, c := range []struct {
		name   string
		plant  func(t *testing.T, root string)
		paths  []string
		refuse string
		check  func(t *testing.T, tree string)
	}{
		{name: "destination through a link copied by an earlier path",
			plant: func(t *testing.T, root string) {
				rootfstest.Write(t, filepath.Join(root, "usr/share/foo/a"), "a")
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/share/foo/x")))
			},
			paths:  []string{"/usr/share/foo", "/usr/bin/cat:/usr/share/foo/x/cat"},
			refuse: "goes through the symlink usr/share/foo/x"},
		{name: "final component: a copied link replaced by a later path",
			plant: func(t *testing.T, root string) {
				rootfstest.Write(t, filepath.Join(root, "usr/share/foo/a"), "a")
				rootfstest.Must(t, os.Symlink(v+"/file", filepath.Join(root, "usr/share/foo/x")))
			},
			paths: []string{"/usr/share/foo", "/usr/share/foo/a:/usr/share/foo/x"},
			check: func(t *testing.T, tree string) { fxIsFile(t, filepath.Join(tree, "usr/share/foo/x"), "a") }},
		{name: "top-level usr -> victim",
			plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Rename(filepath.Join(root, "usr"), filepath.Join(root, "usr.real")))
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr")))
			},
			paths: []string{"/usr/file"}, refuse: "not found"},
		{name: "binary is a relative escape",
			plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(fxUp+v+"/file", filepath.Join(root, "usr/bin/k")))
			},
			paths: []string{"/usr/bin/k"}, refuse: rootfs.ErrPathEscapes.Error()},
		{name: "library directory -> victim",
			plant: func(t *testing.T, root string) {
				rootfstest.Must(t, os.Symlink(v, filepath.Join(root, "usr/lib/evil")))
				rootfstest.Write(t, filepath.Join(root, "etc/ld.so.conf.d/0.conf"), "/usr/lib/evil\n")
			},
			paths: []string{"/usr/bin/cat"},
			check: func(t *testing.T, tree string) {
				if _, err := os.Stat(filepath.Join(tree, "usr/local/cattest/libc.so.6")); err != nil {
					t.Error(err)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap()
			root := filepath.Join(t.TempDir(), "rootfs")
			rootfstest.Must(t, exec0(t, "cp", "-a", base, root))
			c.plant(t, root)
			tree := filepath.Join(t.TempDir(), "tree")
			err := buildFlixTree(context.Background(), FlixOptions{Rootfs: root, Name: "cattest", Paths: c.paths}, tree)
			fxExpect(t, err, c.refuse, func() {
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
