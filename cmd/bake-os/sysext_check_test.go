package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysext"
	"github.com/bake-os/bake-os/testimage"
)

// TestSysextCheck runs "sysext check" on real images, one per verdict,
// and checks the exit status, the finding's line and the --json report.
// systemd-dissect, which could judge the same images, is not part of
// Debian bookworm's systemd package; when it is on PATH the test says so
// (its verdict concerns the running host, not a Flatcar host).
func TestSysextCheck(t *testing.T) {
	testutil.RequireTool(t, append(testimage.RequiredTools, "mksquashfs", "mkfs.erofs", "fsck.erofs", "btrfs")...)
	if _, err := exec.LookPath("systemd-dissect"); err != nil {
		t.Log("systemd-dissect is not installed: verdicts are checked against the expected findings only")
	}
	ctx := context.Background()
	dir := t.TempDir()
	mk := func(file, name, release string, files map[string]string) {
		t.Helper()
		if err := testimage.Sysext(ctx, filepath.Join(dir, file), name, release, files); err != nil {
			t.Fatal(err)
		}
	}
	good := "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n"
	mk("foo.raw", "foo", good, map[string]string{"usr/bin/foo": "#!/bin/sh\n"})
	mk("bar.raw", "foo", good, nil)
	mk("arm.raw", "arm", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n", nil)
	mk("deb.raw", "deb", "ID=debian\nVERSION_ID=12\n", nil)
	mk("old.raw", "old", "ID=flatcar\nVERSION_ID=4000.0.0\n", nil)
	mk("sbin.raw", "sbin", good, map[string]string{"usr/sbin/tool": "#!/bin/sh\n"})
	mk("etc.raw", "etc", good, map[string]string{"etc/tool.conf": "x=1\n"})
	if err := os.WriteFile(filepath.Join(dir, "junk.raw"), []byte(strings.Repeat("junk", 20000)), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "erofs-tree/usr/lib/extension-release.d")
	os.MkdirAll(tree, 0o755)
	os.WriteFile(filepath.Join(tree, "extension-release.ero"), []byte(good), 0o644)
	testutil.Run(t, "mkfs.erofs", "--all-root", "--quiet", filepath.Join(dir, "ero.raw"), filepath.Join(dir, "erofs-tree"))
	os.WriteFile(filepath.Join(dir, "os-release"), []byte("ID=flatcar\nVERSION_ID=4593.2.5\nSYSEXT_LEVEL=1.0\nFLATCAR_BOARD=\"amd64-usr\"\n"), 0o644)
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{Arch: flatcar.ArchARM64}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		args          []string
		code          int
		check, line   string // the finding's check and its whole output line (after the verdict column)
		verdict, host string
	}{
		{[]string{"foo.raw"}, 0, "name", "extension-release.foo found for the name foo", "ok", ""},
		{[]string{"ero.raw"}, 0, "format", "erofs", "ok", ""},
		{[]string{"bar.raw"}, 1, "name", `no usr/lib/extension-release.d/extension-release.bar: systemd-sysext refuses the image ("Failed to read metadata for image bar"); the image carries extension-release.foo: link it as foo.raw or rebuild it with --name bar`, "refused", ""},
		{[]string{"bar.raw", "--name", "foo"}, 0, "name", "extension-release.foo found for the name foo", "ok", ""},
		{[]string{"arm.raw"}, 1, "ARCHITECTURE", "ARCHITECTURE=arm64 does not match the image's architecture x86-64", "refused", ""},
		{[]string{"arm.raw", "--arch", "arm64"}, 0, "ARCHITECTURE", "ARCHITECTURE=arm64 matches the host", "ok", ""},
		{[]string{"deb.raw"}, 1, "ID", "ID=debian does not match the image's ID=flatcar (use ID=_any or ID=flatcar)", "refused", ""},
		{[]string{"old.raw", "--os-release", "os-release"}, 1, "VERSION_ID", "VERSION_ID=4000.0.0 does not match the image's VERSION_ID=4593.2.5 (prefer SYSEXT_LEVEL=1.0)", "refused", "4593.2.5"},
		{[]string{"old.raw"}, 0, "VERSION_ID", "VERSION_ID=4000.0.0: merges only on that exact release, and the host's version is unknown (give --image or --os-release, or prefer SYSEXT_LEVEL=1.0)", "warning", ""},
		{[]string{"sbin.raw"}, 0, "usr/sbin", "the image ships usr/sbin: on Flatcar /usr/sbin is a symlink to bin, and the merged directory hides it and every program the host keeps there; move the files to usr/bin", "warning", ""},
		{[]string{"etc.raw"}, 0, "content", "etc outside /usr and /opt: systemd-sysext merges only /usr and /opt and ignores it", "warning", ""},
		{[]string{"junk.raw"}, 1, "format", "no squashfs, erofs, ext4 or btrfs filesystem: systemd-sysext cannot mount it", "refused", ""},
		// The arm64 image's USR-A says FLATCAR_BOARD=arm64-usr.
		{[]string{"foo.raw", "--image", "flatcar_production_image.bin"}, 1, "ARCHITECTURE", "ARCHITECTURE=x86-64 does not match the image's architecture arm64", "refused", "4593.2.5"},
		{[]string{"arm.raw", "--image", "flatcar_production_image.bin"}, 0, "SYSEXT_LEVEL", "SYSEXT_LEVEL=1.0 matches the host", "ok", "4593.2.5"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, dir, append([]string{"sysext", "check"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, stdout, stderr)
			}
			var line string
			for _, l := range strings.Split(stdout, "\n") {
				if f := strings.Fields(l); len(f) > 1 && f[1] == c.check {
					line = l
				}
			}
			if want := strings.TrimSpace(c.verdict) + " "; !strings.HasPrefix(line, want) || !strings.HasSuffix(line, " "+c.line) {
				t.Errorf("%s line:\n got %q\nwant %s ... %s %s", c.check, line, c.verdict, c.check, c.line)
			}
			wantLast := "would merge"
			if c.code != 0 {
				wantLast = "would not merge"
				if !strings.Contains(stderr, wantLast) {
					t.Errorf("stderr: %q", stderr)
				}
			} else if !strings.Contains(stdout, wantLast) {
				t.Errorf("stdout lacks %q: %s", wantLast, stdout)
			}

			stdout, _, code = run(t, dir, append([]string{"sysext", "check", "--json"}, c.args...)...)
			if code != c.code {
				t.Fatalf("--json: exit %d, want %d", code, c.code)
			}
			var r sysext.Report
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("--json output: %v\n%s", err, stdout)
			}
			if r.Merges != (c.code == 0) || r.File != c.args[0] || r.Host.VersionID != c.host {
				t.Errorf("report: merges %v file %s host %+v", r.Merges, r.File, r.Host)
			}
			found := false
			for _, f := range r.Findings {
				if f.Check == c.check && f.Verdict == c.verdict && f.Message == c.line {
					found = true
				}
			}
			if !found {
				t.Errorf("--json lacks %s %s %q: %+v", c.check, c.verdict, c.line, r.Findings)
			}
		})
	}

	for _, args := range [][]string{
		{},
		{"foo.raw", "bar.raw"},
		{"foo.raw", "--arch", "riscv"},
		{"foo.raw", "--name", "a/b"},
		{"foo.raw", "--image", "flatcar_production_image.bin", "--os-release", "os-release"},
		{"foo.raw", "--image", "flatcar_production_image.bin", "--arch", "x86-64"},
	} {
		if _, stderr, code := run(t, dir, append([]string{"sysext", "check"}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	for arg, msg := range map[string]string{
		"missing.raw":             "missing.raw",
		"erofs-tree":              "erofs-tree is a directory",
		"--image=missing.bin.bz2": "is compressed: decompress it first",
		"--image=junk.raw":        "junk.raw",
	} {
		args := []string{"sysext", "check", arg}
		if strings.HasPrefix(arg, "--") {
			args = []string{"sysext", "check", "foo.raw", arg}
		}
		if _, stderr, code := run(t, dir, args...); code != exitFailure || !strings.Contains(stderr, msg) {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
}
