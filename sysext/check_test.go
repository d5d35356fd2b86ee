package sysext_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysext"
)

// buildSysext writes files (path -> content; a content "->X" makes a
// symlink to X) into a tree and packs it with mksquashfs or mkfs.erofs.
func buildSysext(t *testing.T, out, format string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, full)
		} else if strings.HasSuffix(p, "/") {
			err = os.MkdirAll(full, 0o755)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	switch format {
	case sysext.FormatSquashfs:
		testutil.Run(t, "mksquashfs", dir, out, "-all-root", "-noappend", "-quiet", "-no-progress")
	case sysext.FormatErofs:
		testutil.Run(t, "mkfs.erofs", "--all-root", "--quiet", out, dir)
	case sysext.FormatExt4:
		testutil.Run(t, "mke2fs", "-q", "-t", "ext4", "-d", dir, out, "8M")
	}
}

const goodRelease = "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n"

func goodFiles(name, release string) map[string]string {
	return map[string]string{
		"usr/lib/extension-release.d/extension-release." + name: release,
		"usr/bin/" + name: "#!/bin/sh\n",
	}
}

func findings(r *sysext.Report) map[string]sysext.Finding {
	m := map[string]sysext.Finding{}
	for _, f := range r.Findings {
		m[f.Check] = f
	}
	return m
}

// TestCheckVerdicts builds one real image per verdict and checks the
// finding that explains it, word for word where the wording is the
// point (the name mismatch tells how to fix it).
func TestCheckVerdicts(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "mkfs.erofs", "fsck.erofs", "mke2fs", "debugfs")
	host := sysext.FlatcarHost(flatcar.ArchX86_64, "4593.2.5")
	with := func(m map[string]string, k, v string) map[string]string {
		m[k] = v
		return m
	}
	cases := []struct {
		name, file, format string
		files              map[string]string
		host               *sysext.Host
		merges             bool
		check, verdict     string
		message            string // exact, or a substring when it starts with "~"
	}{
		{name: "good", file: "foo.raw", format: sysext.FormatSquashfs, files: goodFiles("foo", goodRelease), merges: true,
			check: "name", verdict: "ok", message: "extension-release.foo found for the name foo"},
		{name: "good-erofs", file: "foo.raw", format: sysext.FormatErofs, files: goodFiles("foo", goodRelease), merges: true,
			check: "format", verdict: "ok", message: "erofs"},
		{name: "good-ext4", file: "foo.raw", format: sysext.FormatExt4, files: goodFiles("foo", goodRelease), merges: true,
			check: "content", verdict: "ok", message: "only /usr and /opt"},
		{name: "wrong-name", file: "bar.raw", format: sysext.FormatSquashfs, files: goodFiles("foo", goodRelease),
			check: "name", verdict: "refused",
			message: `no usr/lib/extension-release.d/extension-release.bar: systemd-sysext refuses the image ("Failed to read metadata for image bar"); the image carries extension-release.foo: link it as foo.raw or rebuild it with --name bar`},
		{name: "wrong-arch", file: "foo.raw", format: sysext.FormatSquashfs,
			files: goodFiles("foo", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n"),
			check: "ARCHITECTURE", verdict: "refused", message: "ARCHITECTURE=arm64 does not match the image's architecture x86-64"},
		{name: "arch-any", file: "foo.raw", format: sysext.FormatSquashfs, merges: true,
			files: goodFiles("foo", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=_any\n"),
			check: "ARCHITECTURE", verdict: "ok", message: "ARCHITECTURE=_any: any architecture"},
		{name: "id-mismatch", file: "foo.raw", format: sysext.FormatSquashfs,
			files: goodFiles("foo", "ID=debian\nSYSEXT_LEVEL=1.0\n"),
			check: "ID", verdict: "refused", message: "ID=debian does not match the image's ID=flatcar (use ID=_any or ID=flatcar)"},
		{name: "version-mismatch", file: "foo.raw", format: sysext.FormatSquashfs,
			files: goodFiles("foo", "ID=flatcar\nVERSION_ID=4000.0.0\n"),
			host:  &sysext.Host{ID: "flatcar", VersionID: "4593.2.5", SysextLevel: "1.0", Arch: flatcar.ArchX86_64},
			check: "VERSION_ID", verdict: "refused", message: "VERSION_ID=4000.0.0 does not match the image's VERSION_ID=4593.2.5 (prefer SYSEXT_LEVEL=1.0)"},
		{name: "level-mismatch", file: "foo.raw", format: sysext.FormatSquashfs,
			files: goodFiles("foo", "ID=flatcar\nSYSEXT_LEVEL=2.0\n"),
			check: "SYSEXT_LEVEL", verdict: "refused", message: "SYSEXT_LEVEL=2.0 does not match the image's SYSEXT_LEVEL=1.0"},
		{name: "usr-sbin", file: "foo.raw", format: sysext.FormatSquashfs, merges: true,
			files: with(goodFiles("foo", goodRelease), "usr/sbin/foo", "#!/bin/sh\n"),
			check: "usr/sbin", verdict: "warning", message: "~hides it and every program the host keeps there"},
		{name: "etc-content", file: "foo.raw", format: sysext.FormatErofs, merges: true,
			files: with(goodFiles("foo", goodRelease), "etc/foo.conf", "x=1\n"),
			check: "content", verdict: "warning", message: "etc outside /usr and /opt: systemd-sysext merges only /usr and /opt and ignores it"},
		{name: "os-release", file: "foo.raw", format: sysext.FormatSquashfs,
			files: with(goodFiles("foo", goodRelease), "usr/lib/os-release", "ID=flatcar\n"),
			check: "os-release", verdict: "refused", message: "~carries usr/lib/os-release"},
		{name: "reload-manager", file: "foo.raw", format: sysext.FormatSquashfs, merges: true,
			files: goodFiles("foo", goodRelease+"EXTENSION_RELOAD_MANAGER=1\n"),
			check: "EXTENSION_RELOAD_MANAGER", verdict: "ok", message: "~systemd reloads its units after merging"},
		{name: "not-a-filesystem", file: "foo.raw", format: "junk",
			check: "format", verdict: "refused", message: "no squashfs, erofs, ext4 or btrfs filesystem: systemd-sysext cannot mount it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), c.file)
			if c.format == "junk" {
				if err := os.WriteFile(img, []byte(strings.Repeat("not a filesystem\n", 5000)), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				buildSysext(t, img, c.format, c.files)
			}
			h := host
			if c.host != nil {
				h = *c.host
			}
			r, err := sysext.Check(img, sysext.CheckOptions{Host: h})
			if err != nil {
				t.Fatal(err)
			}
			if r.Merges != c.merges {
				t.Errorf("Merges = %v, want %v: %+v", r.Merges, c.merges, r.Findings)
			}
			f, ok := findings(r)[c.check]
			if !ok {
				t.Fatalf("no %s finding: %+v", c.check, r.Findings)
			}
			if f.Verdict != c.verdict {
				t.Errorf("%s verdict %s, want %s: %s", c.check, f.Verdict, c.verdict, f.Message)
			}
			if sub, partial := strings.CutPrefix(c.message, "~"); partial && !strings.Contains(f.Message, sub) || !partial && f.Message != c.message {
				t.Errorf("%s message\n got %q\nwant %q", c.check, f.Message, c.message)
			}
			// Merges agrees with Compatible on the fields it shares.
			if c.format != "junk" && c.check != "name" {
				if rel, err := sysext.ReadRelease(img, "foo"); err == nil {
					cerr := sysext.Compatible(rel, h)
					refusedField := false
					for _, f := range r.Findings {
						if f.Verdict == "refused" && (f.Check == "ID" || f.Check == "ARCHITECTURE" || f.Check == "VERSION_ID" || f.Check == "SYSEXT_LEVEL") {
							refusedField = true
						}
					}
					if refusedField != (cerr != nil) {
						t.Errorf("Check refuses a release field: %v; Compatible says %v", refusedField, cerr)
					}
				}
			}
		})
	}
}

func TestCheckNamesEveryReleaseFile(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	img := filepath.Join(t.TempDir(), "k3s.raw")
	files := goodFiles("k3s-v1", goodRelease)
	files["usr/lib/extension-release.d/extension-release.k3s-v2"] = goodRelease
	buildSysext(t, img, sysext.FormatSquashfs, files)
	r, err := sysext.Check(img, sysext.CheckOptions{Host: sysext.FlatcarHost(flatcar.ArchX86_64, "")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"extension-release.k3s-v1", "extension-release.k3s-v2"}; !reflect.DeepEqual(r.Releases, want) {
		t.Errorf("Releases = %q, want %q", r.Releases, want)
	}
	f := findings(r)["name"]
	if r.Merges || !strings.Contains(f.Message, "extension-release.k3s-v1, extension-release.k3s-v2: link it under one of those names") {
		t.Errorf("name finding: %+v", f)
	}
	// --name picks the metadata, as a link named k3s-v2.raw would.
	r, err = sysext.Check(img, sysext.CheckOptions{Name: "k3s-v2", Host: sysext.FlatcarHost(flatcar.ArchX86_64, "")})
	if err != nil || !r.Merges {
		t.Errorf("--name k3s-v2: %v %+v", err, r)
	}
}

// TestListAllFormats reads the same tree back from every format List
// supports, symlinks included.
func TestListAllFormats(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs", "mkfs.erofs", "fsck.erofs", "mke2fs", "debugfs", "mkfs.btrfs", "btrfs")
	files := map[string]string{
		"usr/lib/extension-release.d/extension-release.x": "ID=_any\n",
		"usr/sbin": "->bin",
		"opt/x/":   "",
	}
	want := []sysext.Entry{
		{Path: "opt", Mode: os.ModeDir}, {Path: "opt/x", Mode: os.ModeDir},
		{Path: "usr", Mode: os.ModeDir}, {Path: "usr/lib", Mode: os.ModeDir},
		{Path: "usr/lib/extension-release.d", Mode: os.ModeDir},
		{Path: "usr/lib/extension-release.d/extension-release.x"},
		{Path: "usr/sbin", Mode: os.ModeSymlink},
	}
	for _, format := range []string{"squashfs", "squashfs-lz4", "erofs", "ext4", "btrfs"} {
		t.Run(format, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "x.raw")
			switch format {
			case "squashfs-lz4", "btrfs":
				dir := t.TempDir()
				os.MkdirAll(filepath.Join(dir, "usr/lib/extension-release.d"), 0o755)
				os.MkdirAll(filepath.Join(dir, "opt/x"), 0o755)
				os.WriteFile(filepath.Join(dir, "usr/lib/extension-release.d/extension-release.x"), []byte("ID=_any\n"), 0o644)
				os.Symlink("bin", filepath.Join(dir, "usr/sbin"))
				if format == "btrfs" {
					os.WriteFile(img, nil, 0o644)
					os.Truncate(img, 128<<20)
					testutil.Run(t, "mkfs.btrfs", "-q", "--rootdir", dir, img)
				} else {
					testutil.Run(t, "mksquashfs", dir, img, "-all-root", "-noappend", "-quiet", "-comp", "lz4")
				}
			default:
				buildSysext(t, img, format, files)
			}
			got, err := sysext.List(img)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("List:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestCheckTruncated: a squashfs cut in half is an error naming the
// image, not a verdict and not a panic.
func TestCheckTruncated(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	img := filepath.Join(t.TempDir(), "foo.raw")
	files := goodFiles("foo", goodRelease)
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("usr/share/foo/%d", i)] = fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(i))))
	}
	buildSysext(t, img, sysext.FormatSquashfs, files)
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	if r, err := sysext.Check(img, sysext.CheckOptions{Host: sysext.FlatcarHost(flatcar.ArchX86_64, "")}); err == nil || !strings.Contains(err.Error(), img+" is truncated") {
		t.Errorf("truncated image: %v, %+v", err, r)
	}
}
