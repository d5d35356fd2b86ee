// Package archtest checks the project's layering rules (STYLE.md 1-2):
// only cmd/ may import cobra, pflag and progressbar, and nothing imports
// cmd/.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
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
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/bake-os/bake-os/cmd") {
				t.Errorf("%s imports %s: nothing may import cmd/", rel, path)
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
