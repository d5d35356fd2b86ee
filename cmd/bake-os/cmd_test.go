package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// run executes the root command in-process with args in dir.
func run(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(&deps{stdout: &out, stderr: &errb, cwd: dir})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("bake-os: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), exitCode(err)
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{},
		{"--no-such-flag"},
		{"--image", "x.bin"},
		{"--image", "x.bin", "--arch", "riscv", "a:b.raw"},
		{"--image", "x.bin", "--install_to", "usr:/x/", "a:b.raw"},
		{"--image", "x.bin", "bad/name:b.raw"},
	} {
		_, stderr, code := run(t, dir, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
}

func TestHelpOfEveryCommand(t *testing.T) {
	root := newRootCmd(&deps{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(all) < 12 {
		t.Fatalf("only %d commands found", len(all))
	}
	for _, c := range all {
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), root.Name())), "--help")
		out, _, code := run(t, t.TempDir(), args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d\n%s", c.CommandPath(), code, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if utf8.RuneCountInString(l) > helpColumns {
				t.Errorf("%s --help: line over %d columns: %q", c.CommandPath(), helpColumns, l)
			}
		}
	}
}

func TestBakeJSONAndInspect(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs")
	dir := t.TempDir()
	img := filepath.Join(dir, "img", "flatcar_production_image.bin")
	os.MkdirAll(filepath.Dir(img), 0o755)
	if err := testimage.Generate(context.Background(), img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(context.Background(), filepath.Join(dir, "ext.raw"), "ext", "ID=_any\n", nil); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	stdout, stderr, code := run(t, dir, "--image", "img/flatcar_production_image.bin", "--output-dir", "out",
		"--install-to", "root:/opt/ext/", "--mask", "docker-flatcar", "--json", "ext:ext.raw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Image   string
		Sysexts []struct{ Name, Path string }
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Image != filepath.Join(dir, "out/flatcar_production_image.bin") || len(res.Sysexts) != 1 || res.Sysexts[0].Path != "/opt/ext/ext.raw" {
		t.Errorf("result %+v", res)
	}
	stdout, stderr, code = run(t, dir, "inspect", "--json", "out/flatcar_production_image.bin")
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"masks": [`) || !strings.Contains(stdout, `"docker-flatcar"`) || !strings.Contains(stdout, `"target": "/opt/ext/ext.raw"`) {
		t.Errorf("inspect JSON: %s", stdout)
	}
	// A failing bake exits non-zero with one line naming the problem.
	_, stderr, code = run(t, dir, "--image", "img/flatcar_production_image.bin", "--output-dir", "out", "ext:missing.raw")
	if code != exitFailure || !strings.Contains(stderr, "missing.raw does not exist") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
