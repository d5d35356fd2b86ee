package child

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toolCall matches a call that runs or looks up a tool named by its first
// string literal; requireTool a test's RequireTool list (every literal).
var (
	toolCall    = regexp.MustCompile(`(?:exec\.LookPath|child\.LookPath|execLookPath|lookTool|child\.Command|exec\.Command|exec\.CommandContext|runTool|command|testutil\.Run)\((?:ctx, |t, |context\.Background\(\), )?("[A-Za-z0-9._+-]+")`)
	requireTool = regexp.MustCompile(`RequireTool\(t, ((?:"[A-Za-z0-9._+-]+"(?:, )?)+)`)
	literal     = regexp.MustCompile(`"([A-Za-z0-9._+-]+)"`)
)

// TestEveryToolHasAPackage: every tool the code (tests included) looks up
// or runs by name is in Packages, so its "not found" message and
// scripts/deps.sh name its Debian package.
func TestEveryToolHasAPackage(t *testing.T) {
	seen := map[string]string{}
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); strings.HasPrefix(n, ".") && p != "../.." || n == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		calls := append(toolCall.FindAllStringSubmatch(string(data), -1), requireTool.FindAllStringSubmatch(string(data), -1)...)
		for _, m := range calls {
			for _, l := range literal.FindAllStringSubmatch(m[1], -1) {
				seen[l[1]] = p
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 30 {
		t.Fatalf("found only %d tool names; the pattern is broken: %v", len(seen), seen)
	}
	for tool, file := range seen {
		if _, ok := Packages[tool]; !ok {
			t.Errorf("%s (run in %s) is not in Packages", tool, file)
		}
	}
}

func TestNotFound(t *testing.T) {
	if _, err := LookPath("mkfs.btrfs-no-such-tool"); err == nil || !errors.Is(err, exec.ErrNotFound) ||
		err.Error() != "mkfs.btrfs-no-such-tool not found: install it" {
		t.Errorf("unknown tool: %v", err)
	}
	if err := NotFound("debugfs"); err.Error() != "debugfs not found: install e2fsprogs" {
		t.Errorf("debugfs: %v", err)
	}
	if p, err := LookPath("sh"); err != nil || p == "" {
		t.Errorf("sh: %q, %v", p, err)
	}
}
