package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestButaneCmd prints configs for a local sysext (checked, and verified
// by its sha256 as sha256sum computes it) and a bakery-only one, and
// refuses what a Flatcar would not merge.
func TestButaneCmd(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "sha256sum")
	dir := t.TempDir()
	ctx := context.Background()
	if err := testimage.Sysext(ctx, filepath.Join(dir, "hello-1.0-x86-64.raw"), "hello", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n", nil); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(ctx, filepath.Join(dir, "arm-1.0-arm64.raw"), "arm", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n", nil); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, dir, "butane", "hello:hello-1.0-x86-64.raw", "wasmtime:wasmtime-24.0.0-x86-64.raw",
		"--sysupdate", "--mask", "docker-flatcar", "--bakery-url", "https://bakery.example/ext")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(stdout), &cfg); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, stdout)
	}
	sum := testutil.FileSHA256(t, filepath.Join(dir, "hello-1.0-x86-64.raw"))
	for _, want := range []string{
		"source: https://bakery.example/ext/hello-1.0-x86-64.raw\n        verification:\n          hash: sha256-" + sum + "\n",
		"source: https://bakery.example/ext/wasmtime-24.0.0-x86-64.raw\n    - path:",
		"source: https://bakery.example/ext/hello.conf\n",
		"path: /etc/extensions/docker-flatcar.raw\n      target: /dev/null\n",
		"ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C wasmtime update\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// --json wraps the same config.
	js, _, code := run(t, dir, "butane", "--json", "hello:hello-1.0-x86-64.raw", "wasmtime:wasmtime-24.0.0-x86-64.raw",
		"--sysupdate", "--mask", "docker-flatcar", "--bakery-url", "https://bakery.example/ext")
	var wrapped map[string]string
	if code != 0 || yaml.Unmarshal([]byte(js), &wrapped) != nil || wrapped["butane"] != stdout {
		t.Errorf("--json: exit %d, %q", code, js)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"butane"}, exitUsage, "nothing to provision"},
		{[]string{"butane", "hello"}, exitUsage, "want NAME:FILE"},
		{[]string{"butane", "a/b:x.raw"}, exitUsage, "invalid sysext name"},
		{[]string{"butane", "x:x-1-arm64.raw"}, exitUsage, "x-1-arm64.raw is for arm64, not --arch x86-64"},
		{[]string{"butane", "x:x.raw", "--arch", "riscv"}, exitUsage, "unknown architecture"},
		{[]string{"butane", "x:x.raw", "--mask", "x"}, exitUsage, "mask x is also given as sysext"},
		{[]string{"butane", "x:x.raw", "--bakery-url", "ftp://x"}, exitUsage, "invalid bakery URL"},
		{[]string{"butane", "x:sub/x.raw"}, exitFailure, "sub/x.raw does not exist"},
		// A local file a Flatcar x86-64 would not merge.
		{[]string{"butane", "arm:arm-1.0-arm64.raw", "--arch", "x86-64"}, exitFailure, "ARCHITECTURE: ARCHITECTURE=arm64 does not match"},
		{[]string{"butane", "other:hello-1.0-x86-64.raw"}, exitFailure, "the image carries extension-release.hello"},
	} {
		stdout, stderr, code := run(t, dir, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and %q", c.args, code, stderr, stdout, c.code, c.msg)
		}
	}
	// arm64 works with --arch arm64.
	if out, stderr, code := run(t, dir, "butane", "arm:arm-1.0-arm64.raw", "--arch", "arm64"); code != 0 || !strings.Contains(out, "/opt/extensions/arm/arm-1.0-arm64.raw") {
		t.Errorf("arm64: exit %d %s %s", code, out, stderr)
	}
}
