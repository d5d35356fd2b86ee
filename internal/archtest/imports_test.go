// Package archtest checks the project's layering rules
// (docs/ARCHITECTURE.md): only cmd/ may import cobra, pflag and
// progressbar, nothing imports cmd/, and each package imports only
// packages of lower layers.
package archtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var cmdOnly = []string{
	"github.com/spf13/cobra",
	"github.com/spf13/pflag",
	"github.com/schollz/progressbar",
}

const module = "github.com/bake-os/bake-os/"

// layers is docs/ARCHITECTURE.md's table: a package imports only packages
// of lower layers. Programs (cmd/ and internal tools) are the layer above
// the table.
var layerTable = [][]string{
	{"flatcar", "osrelease", "progress", "internal/atomicfile", "internal/child", "internal/corrupt", "internal/cpio", "internal/runlog", "internal/sha256sums", "internal/verify"},
	{"sparse", "internal/btrfsfix", "internal/httpget"},
	{"gpt", "decompress", "partitions", "sysext", "provision", "vendors/diskfmt", "sysextbuild/rootfs", "internal/testutil"},
	{"fetch", "sysextbuild", "sysextbuild/oci", "vendors", "testimage", "gpt/gpttest", "partitions/partitionstest", "vendors/diskfmt/conformtest", "sysextbuild/rootfs/rootfstest"},
	{"bake", "boot", "install", "internal/benchimage", "sysextbuild/flix", "sysextbuild/flatwrap", "sysextbuild/torcx"},
	{"sysextbuild/recipe"},
}

var layers = func() map[string]int {
	m := map[string]int{}
	for l, pkgs := range layerTable {
		for _, p := range pkgs {
			m[p] = l
		}
	}
	return m
}()

// layerOf returns the layer of the package in directory rel.
func layerOf(rel string) (int, bool) {
	if strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "internal/cmd/") || strings.Contains(rel, "/internal/") {
		return len(layerTable), true
	}
	l, ok := layers[rel]
	return l, ok
}

func TestLayering(t *testing.T) {
	root := "../.."
	checked := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); strings.HasPrefix(name, ".") && p != root || name == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		inCmd := strings.HasPrefix(rel, "cmd/")
		dir := filepath.ToSlash(filepath.Dir(rel))
		own, known := layerOf(dir)
		if !known && dir != "internal/archtest" {
			t.Errorf("package %s has no layer: add it to docs/ARCHITECTURE.md and to layers", dir)
		}
		test := strings.HasSuffix(rel, "_test.go")
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/bake-os/bake-os/cmd") {
				t.Errorf("%s imports %s: nothing may import cmd/", rel, path)
			}
			if dep, ok := strings.CutPrefix(path, module); ok && known && !test {
				if l, ok := layerOf(dep); !ok {
					t.Errorf("%s imports %s, which has no layer: add it to docs/ARCHITECTURE.md and to layers", rel, dep)
				} else if l >= own {
					t.Errorf("%s (layer %d) imports %s (layer %d): import only lower layers (docs/ARCHITECTURE.md)", rel, own, dep, l)
				}
			}
			if inCmd {
				continue
			}
			for _, banned := range cmdOnly {
				if path == banned || strings.HasPrefix(path, banned+"/") {
					t.Errorf("%s imports %s: only cmd/ may (core packages own their options and report through progress.Reporter)", rel, path)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files checked: wrong root?", checked)
	}
}

// TestNoOutsideReferences: the repository stands alone; facts it relies on
// are in docs/, not in files beside the checkout.
func TestNoOutsideReferences(t *testing.T) {
	root := "../.."
	// Spelled in pieces so that this file does not match itself.
	outside := []string{".." + "/shared/", "shared" + "/reference", "FLATCAR" + ".md", "RECIPES" + ".md", "STYLE" + ".md"}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); strings.HasPrefix(name, ".") && p != root && name != ".ci" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".md", ".sh", ".json", "":
		default:
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, o := range outside {
			if strings.Contains(string(data), o) {
				t.Errorf("%s refers to %q, outside the repository: put the fact in docs/", p, o)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runnerExempt are the packages that may start processes with os/exec
// themselves; everything else goes through internal/child (process group,
// killed with the run, NotFound errors naming the package).
var runnerExempt = map[string]string{
	"internal/child":                "the runner itself",
	"boot":                          "QEMU stays in the terminal's process group: --console reads the TTY and gets its Ctrl-C",
	"testimage":                     "test and demo image generator",
	"internal/benchimage":           "benchmark image generator",
	"internal/testutil":             "test helpers",
	"sysextbuild/rootfs/rootfstest": "test helpers",
	"vendors/diskfmt/conformtest":   "test helpers (qemu-img as judge)",
}

// TestOneRunner: outside runnerExempt, no non-test file calls
// exec.Command, exec.CommandContext or exec.LookPath.
func TestOneRunner(t *testing.T) {
	bad, checked := bannedCalls(t, "../..", runnerExempt, []string{"exec.Command(", "exec.CommandContext(", "exec.LookPath("},
		"run tools through internal/child (Command, AsRoot, Unshare, LookPath)")
	for _, b := range bad {
		t.Error(b)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files checked: wrong root?", checked)
	}
}

// tempExempt are the packages that may make temporary files with
// os.CreateTemp and os.MkdirTemp; everything else goes through
// internal/atomicfile, whose names carry the run's pid so that the forced
// exit and the next run remove what a killed run left.
var tempExempt = map[string]string{
	"internal/atomicfile":           "the temporary files' owner",
	"testimage":                     "test and demo image generator",
	"internal/benchimage":           "benchmark image generator",
	"internal/testutil":             "test helpers",
	"sysextbuild/rootfs/rootfstest": "test helpers",
	"vendors/diskfmt/conformtest":   "test helpers",
}

// TestOneTempMaker: outside tempExempt, no non-test file calls
// os.CreateTemp or os.MkdirTemp.
func TestOneTempMaker(t *testing.T) {
	bad, checked := tempMakers(t, "../..")
	for _, b := range bad {
		t.Error(b)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files checked: wrong root?", checked)
	}
}

// TestOneTempMakerRefuses plants a call in a copy of a package and
// expects the refusal.
func TestOneTempMakerRefuses(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bake"), 0o755)
	for i := range 50 {
		os.WriteFile(filepath.Join(root, "bake", fmt.Sprintf("f%d.go", i)), []byte("package bake\n"), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "testimage"), 0o755)
	os.WriteFile(filepath.Join(root, "testimage", "gen.go"), []byte("package testimage\n\nvar _, _ = os.MkdirTemp(\"\", \"x\")\n"), 0o644)
	os.WriteFile(filepath.Join(root, "bake", "x_test.go"), []byte("package bake\n\nvar _, _ = os.CreateTemp(\"\", \"x\")\n"), 0o644)
	os.WriteFile(filepath.Join(root, "bake", "work.go"), []byte("package bake\n\nvar _, _ = os.MkdirTemp(\"\", \"bake-os-x-\")\n"), 0o644)
	bad, _ := tempMakers(t, root)
	if len(bad) != 1 || !strings.Contains(bad[0], "bake/work.go calls os.MkdirTemp") {
		t.Errorf("planted call: got %q, want one refusal of bake/work.go", bad)
	}
}

func tempMakers(t *testing.T, root string) (bad []string, checked int) {
	return bannedCalls(t, root, tempExempt, []string{"os.CreateTemp(", "os.MkdirTemp("},
		"make temporary files with internal/atomicfile (CreateTemp, MkdirTemp)")
}

// bannedCalls lists the non-test Go files under root, outside the
// packages of exempt, that contain one of calls, each with the rule's
// advice; checked counts the files read.
func bannedCalls(t *testing.T, root string, exempt map[string]string, calls []string, advice string) (bad []string, checked int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); strings.HasPrefix(name, ".") && p != root || name == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if _, ok := exempt[filepath.ToSlash(filepath.Dir(rel))]; ok {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		for _, call := range calls {
			if strings.Contains(string(b), call) {
				bad = append(bad, fmt.Sprintf("%s calls %s: %s", rel, strings.TrimSuffix(call, "("), advice))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad, checked
}
