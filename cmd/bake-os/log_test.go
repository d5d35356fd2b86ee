package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// bakeFixture writes a generated Flatcar-layout image, a sysext ext.raw
// and its ext.conf, whose [Target] Path lies under /usr (outside ROOT's
// writable part), which the bake warns about.
func bakeFixture(t *testing.T) string {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs")
	dir := t.TempDir()
	if err := testimage.Generate(context.Background(), filepath.Join(dir, "flatcar_production_image.bin"), testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(context.Background(), filepath.Join(dir, "ext.raw"), "ext", "ID=_any\n", nil); err != nil {
		t.Fatal(err)
	}
	conf := "[Source]\nType=url-file\nPath=https://example.org/ext/\nMatchPattern=ext.raw\n\n" +
		"[Target]\nType=regular-file\nPath=/usr/lib/ext\nCurrentSymlink=/etc/extensions/ext.raw\n"
	if err := os.WriteFile(filepath.Join(dir, "ext.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLogFormat: one format on stderr for every package. -v adds a line
// per external tool run; -q leaves out warnings; --json keeps stdout JSON
// only.
func TestLogFormat(t *testing.T) {
	dir := bakeFixture(t)
	bakeArgs := func(out string, extra ...string) []string {
		os.Mkdir(filepath.Join(dir, out), 0o755)
		return append([]string{"--image", "flatcar_production_image.bin", "--output-dir", out}, append(extra, "ext:ext.raw")...)
	}
	stdout, stderr, code := run(t, dir, bakeArgs("v", "-v", "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(strings.TrimSpace(stdout), "{") || !strings.HasSuffix(strings.TrimSpace(stdout), "}") {
		t.Errorf("stdout is not only JSON:\n%s", stdout)
	}
	if !strings.Contains(stderr, "\nbake-os: running debugfs ") && !strings.HasPrefix(stderr, "bake-os: running debugfs ") {
		t.Errorf("-v: no debugfs run logged:\n%s", stderr)
	}
	if !strings.Contains(stderr, "bake-os: warning: ") || !strings.Contains(stderr, "Path=/usr/lib/ext") {
		t.Errorf("no warning about the conf's Path:\n%s", stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "bake-os: ") || strings.Contains(l, "time=") || strings.Contains(l, "level=") {
			t.Errorf("-v: line in another format: %q", l)
		}
	}

	_, stderr, code = run(t, dir, bakeArgs("q", "-q")...)
	if code != 0 || stderr != "" {
		t.Errorf("-q: exit %d, stderr:\n%s", code, stderr)
	}

	// Without -v: the warning, no debug lines.
	_, stderr, code = run(t, dir, bakeArgs("plain")...)
	if code != 0 || !strings.Contains(stderr, "bake-os: warning: ") || strings.Contains(stderr, "running ") {
		t.Errorf("default: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestLineHandler: levels, attributes and groups in one line each.
func TestLineHandler(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&console{w: &b}, slog.LevelDebug)
	log.Warn("upstream publishes no digest", "file", "a b.tgz", "n", 3)
	log.With("recipe", "docker").WithGroup("g").Info("note\nsecond", "k", "v")
	log.Debug("running x")
	log.Error("broken")
	want := "bake-os: warning: upstream publishes no digest (file=\"a b.tgz\" n=3)\n" +
		"bake-os: note second (recipe=docker g.k=v)\n" +
		"bake-os: running x\n" +
		"bake-os: error: broken\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	quiet := newLogger(&console{w: &b}, logLevel(true, true))
	quiet.Warn("w")
	quiet.Info("i")
	if b.String() != "" {
		t.Errorf("-q printed %q", b.String())
	}
}
