package recipe

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/sysextbuild/oci"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

// FuzzHostileArchive feeds the recipe extractor and the OCI/Torcx layer
// applier archives written from a compact script (one entry per line:
// TYPE NAME [LINK], TYPE one of f d l h p for file, directory, symlink,
// hard link, fifo) so that the fuzzer explores names and links rather
// than tar checksums. Whatever the archive, neither may panic nor change
// anything outside the tree: a victim directory beside it, reachable
// through absolute links ("/V/...", rewritten to its real path) and
// relative ones, must keep every name, mode and byte.
func FuzzHostileArchive(f *testing.F) {
	for _, seed := range []string{
		"l usr /V\nf usr/evil",
		"d usr\nl usr/lib ../../..\nf usr/lib/x",
		"l up ../../../../../../../../../../V\nf up/file",
		"f a\nl a /V/secret\nh h a",
		"f d/secret\nl d /V\nh h d/secret",
		"l w /V\nf w/.wh.file\nf w/.wh..wh..opq",
		"l f /V/file\nf f\np f",
		"h h /V/secret",
		"l s /V/file\nh h s\nf h",
		"d x\nl x/y /V/sub\nd x/y\nf x/y/deep",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		if len(script) > 2048 || strings.Count(script, "\n") > 32 {
			return // keep each run fast: a few dozen entries explore the links
		}
		base := t.TempDir()
		victim := filepath.Join(base, "V")
		rootfstest.Write(t, filepath.Join(victim, "file"), "victim\n")
		rootfstest.Write(t, filepath.Join(victim, "secret"), "secret\n")
		rootfstest.Write(t, filepath.Join(victim, "sub/deep"), "deep\n")
		before := fuzzSnapshot(t, base)
		var ents []rootfstest.TarEnt
		for _, line := range strings.Split(script, "\n") {
			fs := strings.Fields(line)
			if len(fs) < 2 || len(fs[1]) > 200 {
				continue
			}
			e := rootfstest.TarEnt{Name: fs[1], Body: "x"}
			if len(fs) > 2 {
				e.Link = strings.ReplaceAll(fs[2], "/V", victim)
			}
			switch fs[0] {
			case "f":
			case "d":
				e.Typ = tar.TypeDir
			case "l":
				e.Typ = tar.TypeSymlink
			case "h":
				e.Typ = tar.TypeLink
			case "p":
				e.Typ = tar.TypeFifo
			default:
				continue
			}
			if e.Typ == tar.TypeSymlink && e.Link == "" || e.Typ == tar.TypeLink && e.Link == "" {
				continue
			}
			ents = append(ents, e)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range ents {
			h := &tar.Header{Name: e.Name, Typeflag: e.Typ, Linkname: e.Link, Mode: 0o755}
			if e.Typ == 0 {
				h.Typeflag, h.Size = tar.TypeReg, 1
			}
			if tw.WriteHeader(h) != nil {
				return
			}
			if h.Size > 0 {
				_, _ = tw.Write([]byte("x"))
			}
		}
		if tw.Close() != nil {
			return
		}
		arch := filepath.Join(base, "a.tar")
		rootfstest.Must(t, os.WriteFile(arch, buf.Bytes(), 0o644))

		tree := filepath.Join(base, "tree")
		rootfstest.Must(t, os.Mkdir(tree, 0o755))
		_ = extractAll(arch, "tar", filepath.Join(tree, "all"))
		rootfstest.Must(t, os.Mkdir(filepath.Join(tree, "members"), 0o755))
		_ = extractMembers(arch, Download{Format: "tar", Members: []Member{{Src: "", Dest: "", Optional: true}}}, filepath.Join(tree, "members"))
		rootfstest.Must(t, os.Mkdir(filepath.Join(tree, "oci"), 0o755))
		r, err := os.OpenRoot(filepath.Join(tree, "oci"))
		rootfstest.Must(t, err)
		a := &oci.Applier{Root: r, Whiteouts: true}
		_ = a.Apply(context.Background(), bytes.NewReader(buf.Bytes()))
		_ = a.Apply(context.Background(), bytes.NewReader(buf.Bytes())) // again, as a second layer
		r.Close()

		if after := fuzzSnapshot(t, base); after != before {
			t.Fatalf("outside of the tree changed:\nbefore:\n%s\nafter:\n%s\nscript:\n%s", before, after, script)
		}
		_ = filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// fuzzSnapshot describes everything under base except the trees and the
// archive (names, modes, sizes, contents of small files).
func fuzzSnapshot(t *testing.T, base string) string {
	var b strings.Builder
	err := filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if rel == "tree" {
			return filepath.SkipDir
		}
		if rel == "a.tar" {
			return nil
		}
		b.WriteString(rel + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			b.WriteString(" " + string(data))
		}
		if fi.IsDir() && rel != "." {
			b.WriteString(" " + fi.ModTime().String())
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
