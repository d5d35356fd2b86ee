package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

func TestSysextPackCommand(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	cwd := t.TempDir()
	tree := filepath.Join(cwd, "myext")
	if err := os.MkdirAll(filepath.Join(tree, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "usr/bin/tool"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out, errOut, code := run(t, cwd, "sysext", "pack", "myext", "--arch", "amd64", "--os", "flatcar", "--reload", "--sysupdate")
	if code != 0 {
		t.Fatalf("sysext pack: exit %d: %s", code, errOut)
	}
	img := filepath.Join(cwd, "myext.raw")
	if strings.TrimSpace(out) != img {
		t.Errorf("stdout %q, want %s", out, img)
	}
	if !strings.Contains(errOut, "bake-os: warning: ") || !strings.Contains(errOut, "etc is outside usr/ and opt/") {
		t.Errorf("stderr lacks the etc warning: %q", errOut)
	}
	rel := testutil.Run(t, "unsquashfs", "-cat", img, "usr/lib/extension-release.d/extension-release.myext")
	if rel != "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n" {
		t.Errorf("extension-release:\n%s", rel)
	}
	cmd := exec.Command("unsquashfs", "-lln", img, "usr/bin/tool")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	ls, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(ls), "0/0") || !strings.Contains(string(ls), "2023-11-14 22:13") {
		t.Errorf("unsquashfs -lln: %v\n%s", err, ls)
	}
	for _, f := range []string{"SHA256SUMS.myext", "myext.conf"} {
		if _, err := os.Stat(filepath.Join(cwd, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}

	// The global flags: --json puts only JSON on stdout, -q drops the
	// warning.
	out, errOut, code = run(t, cwd, "sysext", "pack", "myext", "--json", "-q", "--output", "j.raw")
	if code != 0 || strings.TrimSpace(out) != `{
  "output": "`+filepath.Join(cwd, "j.raw")+`"
}` || errOut != "" {
		t.Errorf("pack --json -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// usr/sbin is refused (exit 1), a bad format is a usage error (exit 2).
	if err := os.MkdirAll(filepath.Join(tree, "usr/sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, cwd, "sysext", "pack", "myext"); code != 1 || !strings.Contains(errOut, "usr/sbin") {
		t.Errorf("pack with usr/sbin: exit %d, %q; want 1 naming usr/sbin", code, errOut)
	}
	if _, _, code := run(t, cwd, "sysext", "pack", "myext", "--format", "zip"); code != 2 {
		t.Errorf("pack --format zip: exit %d, want 2", code)
	}
	if _, _, code := run(t, cwd, "sysext", "pack", "myext", "--ext-fs-size", "lots"); code != 2 {
		t.Errorf("pack --ext-fs-size lots: exit %d, want 2", code)
	}
}

func TestSysextReleaseCommand(t *testing.T) {
	cwd := t.TempDir()
	out := filepath.Join(cwd, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// Every image already exists, so nothing is downloaded or built.
	for _, f := range []string{"wasmtime-24.0.0-x86-64.raw", "wasmtime-24.0.0-arm64.raw"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cwd, "versions.txt"), []byte("# test\nwasmtime-24.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code := run(t, cwd, "sysext", "release", "--versions", "versions.txt", "--output-dir", "out", "--jobs", "3")
	if code != 0 {
		t.Fatalf("sysext release: exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, filepath.Join(out, "SHA256SUMS")) || !strings.Contains(errOut, "skipping wasmtime-24.0.0-arm64.raw") {
		t.Errorf("stdout %q stderr %q", stdout, errOut)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil || strings.Count(string(sums), ".raw\n") != 2 {
		t.Errorf("SHA256SUMS: %v\n%s", err, sums)
	}
	if _, _, code := run(t, cwd, "sysext", "release", "--versions", "versions.txt", "--arch", "mips"); code != 2 {
		t.Errorf("release --arch mips: exit %d, want 2", code)
	}
	if _, _, code := run(t, cwd, "sysext", "release", "--versions", "missing.txt"); code != 1 {
		t.Errorf("release with a missing versions file: exit %d, want 1", code)
	}
}
