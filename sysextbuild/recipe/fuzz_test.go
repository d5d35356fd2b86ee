package recipe

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

// FuzzRecipeJSON decodes and validates arbitrary recipe JSON: it must never
// panic, and a recipe that validation accepts must satisfy what validation
// promises (checked here independently of validate): valid names, both
// architectures, http(s) downloads in a known format, every tree path a
// clean relative path under usr/ or opt/ (never usr/sbin), every removal
// and move a clean relative path, every mode an octal permission. The
// seed corpus is the shipped recipes (recipes/*.json).
func FuzzRecipeJSON(f *testing.F) {
	files, err := fs.Glob(recipeFS, "recipes/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no shipped recipes: %v", err)
	}
	for _, file := range files {
		data, err := fs.ReadFile(recipeFS, file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The file name follows the recipe's name so that mutations are
		// not all refused for the name mismatch alone.
		var head struct {
			Name string `json:"name"`
		}
		file := "recipes/fuzz.json"
		if json.Unmarshal(data, &head) == nil && fuzzNameRe.MatchString(head.Name) {
			file = "recipes/" + head.Name + ".json"
		}
		var probs problems
		r, ok := decodeRecipe(file, data, staticFS, &probs)
		if !ok || len(probs) > 0 {
			return
		}
		if err := recipeInvariants(r); err != nil {
			t.Fatalf("accepted recipe breaks an invariant: %v\n%s", err, data)
		}
	})
}

var fuzzNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// TestShippedRecipesInvariants: the seeds themselves are accepted and
// satisfy the invariants (so the fuzz target checks something).
func TestShippedRecipesInvariants(t *testing.T) {
	rs, err := loadRecipes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := recipeInvariants(r); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
	}
	// And the checker catches what validation must refuse.
	bad := rs[0]
	bad.Generated = append([]Generated(nil), Generated{Path: "usr/../etc/passwd"})
	if recipeInvariants(bad) == nil {
		t.Error("invariant checker accepts a generated path with ..")
	}
}

func recipeInvariants(r Recipe) error {
	name := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	if !name.MatchString(r.Name) {
		return fmt.Errorf("name %q", r.Name)
	}
	for _, a := range r.Aliases {
		if !name.MatchString(a) {
			return fmt.Errorf("alias %q", a)
		}
	}
	_, x86 := r.Arch[flatcar.ArchX86_64]
	_, arm := r.Arch[flatcar.ArchARM64]
	if len(r.Arch) != 2 || !x86 || !arm {
		return fmt.Errorf("arch %v", r.Arch)
	}
	switch r.Kind {
	case KindBinary:
		if len(r.Downloads) == 0 {
			return fmt.Errorf("bin recipe without downloads")
		}
	case KindContainer:
		if (r.Build == nil) == (r.Rootfs == nil) {
			return fmt.Errorf("ctr recipe with build %v rootfs %v", r.Build != nil, r.Rootfs != nil)
		}
	default:
		return fmt.Errorf("kind %q", r.Kind)
	}
	treePath := func(what, q string) error {
		if q == "" || path.IsAbs(q) || path.Clean(q) != q || q == ".." || strings.HasPrefix(q, "../") {
			return fmt.Errorf("%s %q is not a clean relative path", what, q)
		}
		if !strings.HasPrefix(q+"/", "usr/") && !strings.HasPrefix(q+"/", "opt/") {
			return fmt.Errorf("%s %q is outside usr/ and opt/", what, q)
		}
		if q == "usr/sbin" || strings.HasPrefix(q, "usr/sbin/") {
			return fmt.Errorf("%s %q is under usr/sbin", what, q)
		}
		return nil
	}
	relPath := func(what, q string) error {
		if q == "" || path.IsAbs(q) || path.Clean(q) != q || q == ".." || strings.HasPrefix(q, "../") {
			return fmt.Errorf("%s %q is not a clean relative path", what, q)
		}
		return nil
	}
	mode := func(what, m string) error {
		if m == "" {
			return nil
		}
		if v, err := parseMode(m); err != nil || v > 0o7777 {
			return fmt.Errorf("%s mode %q", what, m)
		}
		return nil
	}
	for _, d := range r.Downloads {
		if !strings.HasPrefix(d.URL, "https://") && !strings.HasPrefix(d.URL, "http://") {
			return fmt.Errorf("download URL %q", d.URL)
		}
		switch d.Format {
		case "raw":
			if err := treePath("raw dest", d.Dest); err != nil {
				return err
			}
			if len(d.Members) > 0 || d.Install != nil {
				return fmt.Errorf("raw download with members or install")
			}
		case "tar", "tar.gz", "tar.xz", "tar.zst", "zip":
			if len(d.Members) == 0 && d.Install == nil {
				return fmt.Errorf("archive download without members or install")
			}
		default:
			return fmt.Errorf("download format %q", d.Format)
		}
		if err := mode("download", d.Mode); err != nil {
			return err
		}
		for _, m := range d.Members {
			if err := treePath("member dest", strings.TrimSuffix(m.Dest, "/")); err != nil {
				return err
			}
			if err := mode("member", m.Mode); err != nil {
				return err
			}
		}
		if d.Install != nil && d.Install.Script == "" {
			return fmt.Errorf("install without script")
		}
	}
	for _, g := range r.Generated {
		if err := treePath("generated", g.Path); err != nil {
			return err
		}
		if err := mode("generated", g.Mode); err != nil {
			return err
		}
	}
	for _, s := range r.Symlinks {
		if err := treePath("symlink", s.Path); err != nil {
			return err
		}
		if s.Target == "" {
			return fmt.Errorf("symlink %s without target", s.Path)
		}
	}
	for _, rm := range r.Remove {
		for _, q := range rm.Paths {
			if err := relPath("removal", q); err != nil {
				return err
			}
		}
	}
	if b := r.Build; b != nil {
		for _, m := range b.Moves {
			if err := relPath("move src", m.Src); err != nil {
				return err
			}
			if err := treePath("move dest", m.Dest); err != nil {
				return err
			}
		}
	}
	for k, m := range r.StaticModes {
		if err := mode("static "+k, m); err != nil {
			return err
		}
	}
	return nil
}
