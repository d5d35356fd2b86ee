package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

// Two layers: the second removes a file by whiteout, empties a directory
// with the opaque marker, replaces a file and writes through a symlinked
// directory.
var (
	ociLayer1 = []rootfstest.TarEnt{
		{Name: "etc/", Typ: tar.TypeDir},
		{Name: "etc/gone", Body: "old"},
		{Name: "etc/kept", Body: "kept"},
		{Name: "usr/", Typ: tar.TypeDir},
		{Name: "usr/bin/", Typ: tar.TypeDir},
		{Name: "usr/bin/tool", Body: "v1", Mode: 0o755},
		{Name: "usr/bin/tool-hard", Typ: tar.TypeLink, Link: "usr/bin/tool"},
		{Name: "bin", Typ: tar.TypeSymlink, Link: "usr/bin"},
		{Name: "opq/", Typ: tar.TypeDir},
		{Name: "opq/old", Body: "old"},
		{Name: "opq/sub/", Typ: tar.TypeDir},
		{Name: "opq/sub/deep", Body: "old"},
	}
	ociLayer2 = []rootfstest.TarEnt{
		{Name: "etc/.wh.gone", Body: ""},
		{Name: "opq/", Typ: tar.TypeDir},
		{Name: "opq/.wh..wh..opq", Body: ""},
		{Name: "opq/new", Body: "new"},
		{Name: "./usr/bin/tool", Body: "v2", Mode: 0o755},
		{Name: "bin/other", Body: "through the link", Mode: 0o700},
		{Name: "suid", Body: "s", Mode: 0o4755},
	}
)

// checkOCITree checks the result of applying ociLayer1 then ociLayer2.
func checkOCITree(t *testing.T, dir string) {
	t.Helper()
	var got []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		desc := rel
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %q %o", b, fi.Mode().Perm())
		case fi.IsDir():
			desc += "/"
		}
		got = append(got, desc)
		return nil
	})
	rootfstest.Must(t, err)
	sort.Strings(got)
	want := []string{
		"bin -> usr/bin",
		"etc/",
		`etc/kept "kept" 644`,
		"opq/",
		`opq/new "new" 644`,
		`suid "s" 755`,
		"usr/",
		"usr/bin/",
		`usr/bin/other "through the link" 700`,
		`usr/bin/tool "v2" 755`,
		`usr/bin/tool-hard "v1" 755`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fi, err := os.Stat(filepath.Join(dir, "suid")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid bit lost: %v %v", fi.Mode(), err)
	}
}

// writeBlob stores b under blobs/sha256/ and returns its descriptor digest.
func ociWriteBlob(t *testing.T, layoutDir string, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	rootfstest.Must(t, os.MkdirAll(filepath.Join(layoutDir, "blobs/sha256"), 0o755))
	rootfstest.Must(t, os.WriteFile(filepath.Join(layoutDir, "blobs/sha256", h), b, 0o644))
	return "sha256:" + h
}

func ociDiffID(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func ociJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	rootfstest.Must(t, err)
	return b
}

// makeOCILayout writes an OCI image layout by hand (no library) holding a
// two-layer amd64 image (gzip and plain layers).
func makeOCILayout(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "layout")
	l1, l2 := rootfstest.MakeTar(t, ociLayer1), rootfstest.MakeTar(t, ociLayer2)
	l1gz := rootfstest.Gzip(t, l1)
	cfg := ociJSON(t, map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ociDiffID(l1), ociDiffID(l2)}},
	})
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": ociWriteBlob(t, dir, b), "size": len(b)}
	}
	manifest := ociJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", cfg),
		"layers": []any{
			desc("application/vnd.oci.image.layer.v1.tar+gzip", l1gz),
			desc("application/vnd.oci.image.layer.v1.tar", l2),
		},
	})
	md := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	md["platform"] = map[string]string{"os": "linux", "architecture": "amd64"}
	index := ociJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{md}})
	rootfstest.Must(t, os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644))
	rootfstest.Must(t, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	return dir
}

func TestOCIRootfsLayout(t *testing.T) {
	layoutDir := makeOCILayout(t)
	out := filepath.Join(t.TempDir(), "rootfs")
	if err := Rootfs(context.Background(), Options{Image: layoutDir, Dir: out}); err != nil {
		t.Fatal(err)
	}
	checkOCITree(t, out)
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("temporary files left beside the output: %v", ents)
	}
	if err := Rootfs(context.Background(), Options{Image: layoutDir, Dir: out}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("unpacking into a non-empty directory: %v", err)
	}
	err := Rootfs(context.Background(), Options{Image: layoutDir, Dir: filepath.Join(t.TempDir(), "x"), Arch: flatcar.ArchARM64})
	if err == nil || !strings.Contains(err.Error(), "no linux/arm64 image") {
		t.Errorf("wrong arch: %v", err)
	}
}

// TestOCIRootfsOCIArchive unpacks the layout after tar-ing it up, as
// podman save --format oci-archive does.
func TestOCIRootfsOCIArchive(t *testing.T) {
	layoutDir := makeOCILayout(t)
	var ents []rootfstest.TarEnt
	rootfstest.Must(t, filepath.Walk(layoutDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(layoutDir, p)
		b, err := os.ReadFile(p)
		ents = append(ents, rootfstest.TarEnt{Name: rel, Body: string(b)})
		return err
	}))
	p := filepath.Join(t.TempDir(), "img.oci.tar")
	rootfstest.Must(t, os.WriteFile(p, rootfstest.MakeTar(t, ents), 0o644))
	out := filepath.Join(t.TempDir(), "rootfs")
	if err := Rootfs(context.Background(), Options{Image: p, Dir: out}); err != nil {
		t.Fatal(err)
	}
	checkOCITree(t, out)
}

// TestOCIRootfsDockerSave unpacks a docker-save style archive built by hand.
func TestOCIRootfsDockerSave(t *testing.T) {
	l1, l2 := rootfstest.MakeTar(t, ociLayer1), rootfstest.MakeTar(t, ociLayer2)
	cfg := ociJSON(t, map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ociDiffID(l1), ociDiffID(l2)}},
	})
	manifest := ociJSON(t, []map[string]any{{
		"Config": "cfg.json", "RepoTags": []string{"test:latest"},
		"Layers": []string{"aaa/layer.tar", "bbb/layer.tar"},
	}})
	archive := rootfstest.MakeTar(t, []rootfstest.TarEnt{
		{Name: "aaa/", Typ: tar.TypeDir}, {Name: "aaa/layer.tar", Body: string(l1)},
		{Name: "bbb/", Typ: tar.TypeDir}, {Name: "bbb/layer.tar", Body: string(l2)},
		{Name: "cfg.json", Body: string(cfg)},
		{Name: "manifest.json", Body: string(manifest)},
	})
	p := filepath.Join(t.TempDir(), "img.tar")
	rootfstest.Must(t, os.WriteFile(p, archive, 0o644))
	out := filepath.Join(t.TempDir(), "rootfs")
	if err := Rootfs(context.Background(), Options{Image: p, Dir: out}); err != nil {
		t.Fatal(err)
	}
	checkOCITree(t, out)
}

// TestOCIRootfsRegistry pulls from an in-memory registry on 127.0.0.1 and
// picks the platform.
func TestOCIRootfsRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	imgFor := func(content string) v1.Image {
		data := rootfstest.MakeTar(t, []rootfstest.TarEnt{{Name: "arch", Body: content}})
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		rootfstest.Must(t, err)
		img, err := mutate.AppendLayers(empty.Image, l)
		rootfstest.Must(t, err)
		return img
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: imgFor("amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: imgFor("arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	ref, err := name.ParseReference(host + "/test/multi:1")
	rootfstest.Must(t, err)
	rootfstest.Must(t, remote.WriteIndex(ref, idx))
	for _, arch := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		out := filepath.Join(t.TempDir(), "rootfs")
		if err := Rootfs(context.Background(), Options{Image: ref.String(), Dir: out, Arch: arch}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "arch")); string(b) != arch.GoArch() {
			t.Errorf("arch %s: got content %q", arch, b)
		}
	}
}

func TestOCIRootfsRefusesEscapes(t *testing.T) {
	for _, layer := range [][]rootfstest.TarEnt{
		{{Name: "../evil", Body: "x"}},
		{{Name: "a/../../evil", Body: "x"}},
		{{Name: "up", Typ: tar.TypeSymlink, Link: "../.."}, {Name: "up/evil", Body: "x"}},
		{{Name: "h", Typ: tar.TypeLink, Link: "../etc/passwd"}},
	} {
		root := filepath.Join(t.TempDir(), "r")
		rootfstest.Must(t, os.Mkdir(root, 0o755))
		a := &Applier{Root: rootfstest.OpenRoot(t, root), Whiteouts: true}
		err := a.Apply(context.Background(), bytes.NewReader(rootfstest.MakeTar(t, layer)))
		if !errors.Is(err, rootfs.ErrPathEscapes) {
			t.Errorf("layer %v: %v, want rootfs.ErrPathEscapes", layer, err)
		}
		if _, err := os.Lstat(filepath.Join(filepath.Dir(root), "evil")); err == nil {
			t.Errorf("layer %v wrote outside the root", layer)
		}
	}
	// An absolute symlink is followed inside the root, not on the host.
	root := filepath.Join(t.TempDir(), "r")
	rootfstest.Must(t, os.Mkdir(root, 0o755))
	a := &Applier{Root: rootfstest.OpenRoot(t, root), Whiteouts: true}
	outside := t.TempDir()
	rootfstest.Must(t, a.Apply(context.Background(), bytes.NewReader(rootfstest.MakeTar(t, []rootfstest.TarEnt{
		{Name: "abs", Typ: tar.TypeSymlink, Link: outside}, {Name: "abs/file", Body: "x"},
	}))))
	if _, err := os.Stat(filepath.Join(outside, "file")); err == nil {
		t.Error("absolute symlink followed on the host")
	}
	if b, err := os.ReadFile(filepath.Join(root, outside, "file")); err != nil || string(b) != "x" {
		t.Errorf("file through absolute link not inside root: %q %v", b, err)
	}
}

func TestOCIRootfsCmdNeedsEngine(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Rootfs(context.Background(), Options{Image: "alpine", Dir: filepath.Join(t.TempDir(), "r"), Cmd: "true"})
	if !errors.Is(err, ErrCmdNeedsEngine) || !strings.Contains(err.Error(), "podman or docker") {
		t.Errorf("error %v", err)
	}
}
