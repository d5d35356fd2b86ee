package sysextbuild_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
)

// unsquashfsList returns path -> "MODE OWNER TIME [-> TARGET]" from
// unsquashfs -lln (numeric owners, times printed in UTC).
func unsquashfsList(t *testing.T, img string) map[string]string {
	t.Helper()
	cmd := exec.Command("unsquashfs", "-lln", "-d", "", img)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lln %s: %v\n%s", img, err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			t.Fatalf("unexpected unsquashfs line %q", line)
		}
		p := "."
		if len(f) > 5 {
			p = strings.TrimPrefix(f[5], "/")
		}
		m[p] = f[0] + " " + f[1] + " " + f[3] + " " + f[4]
	}
	return m
}

func unsquashfsCat(t *testing.T, img, p string) string {
	t.Helper()
	return testutil.Run(t, "unsquashfs", "-cat", img, p)
}

func TestPackSquashfs(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	tree := makeTree(t, time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC))
	// Something outside usr/ and opt/ is packed but warned about.
	must(t, os.MkdirAll(filepath.Join(tree, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "etc", "x.conf"), []byte("x\n"), 0o644))
	before := snapshot(t, tree)

	out := filepath.Join(t.TempDir(), "hello-1.0-x86-64.raw")
	var warnings []string
	res, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{
		Dir: tree, OS: "flatcar", Arch: flatcar.ArchX86_64, Reload: true,
		Epoch: testEpoch, Output: out, Sysupdate: true,
		Warn: func(m string) { warnings = append(warnings, m) },
	})
	must(t, err)
	if after := snapshot(t, tree); after != before {
		t.Errorf("input tree was modified:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "etc is outside usr/ and opt/") {
		t.Errorf("warnings = %q, want one about etc", warnings)
	}

	ls := unsquashfsList(t, out)
	const when = "2023-11-14 22:13"
	want := map[string]string{
		".":                                    "drwxr-xr-x",
		"usr":                                  "drwxr-xr-x",
		"usr/bin":                              "drwxr-xr-x",
		"usr/bin/hello":                        "-rwxr-xr-x",
		"usr/bin/hello2":                       "-rwxr-xr-x",
		"usr/bin/hi":                           "lrwxrwxrwx",
		"usr/lib/hello/data.txt":               "-rw-r--r--",
		"usr/lib/hello/secret":                 "-rw-------",
		"usr/lib/systemd/system/hello.service": "-rw-r--r--",
		"usr/share/empty":                      "drwxr-x---",
		"opt/hello/README":                     "-r--r--r--",
		"etc/x.conf":                           "-rw-r--r--",
		"usr/lib/extension-release.d":          "drwxr-xr-x",
		"usr/lib/extension-release.d/extension-release.hello": "-rw-r--r--",
	}
	for p, mode := range want {
		got, ok := ls[p]
		if !ok {
			t.Errorf("%s missing from image", p)
			continue
		}
		if !strings.HasPrefix(got, mode+" 0/0 "+when) {
			t.Errorf("%s: got %q, want mode %s, owner 0/0, time %s", p, got, mode, when)
		}
	}
	for p, got := range ls {
		if !strings.Contains(got, " 0/0 "+when) {
			t.Errorf("%s: got %q, want owner 0/0 and time %s", p, got, when)
		}
	}
	if !strings.Contains(testutil.Run(t, "unsquashfs", "-lls", out), "usr/bin/hi -> hello") {
		t.Errorf("symlink usr/bin/hi -> hello missing")
	}
	if got := unsquashfsCat(t, out, "usr/lib/hello/data.txt"); got != strings.Repeat("data ", 1000) {
		t.Errorf("data.txt content differs (%d bytes)", len(got))
	}
	golden(t, "extension-release.flatcar-x86-64-reload",
		unsquashfsCat(t, out, "usr/lib/extension-release.d/extension-release.hello"))

	// Exact times (unsquashfs prints minutes), and the superblock time.
	mtimes := squashfsMtimes(t, out)
	if len(mtimes) != len(ls)-1 {
		t.Errorf("go-diskfs sees %d entries, unsquashfs %d", len(mtimes), len(ls)-1)
	}
	for p, mt := range mtimes {
		if mt != testEpoch {
			t.Errorf("%s: mtime %d, want %d", p, mt, testEpoch)
		}
	}
	sb := exec.Command("unsquashfs", "-s", out)
	sb.Env = append(os.Environ(), "TZ=UTC")
	if b, err := sb.CombinedOutput(); err != nil || !strings.Contains(string(b), "Creation or last append time Tue Nov 14 22:13:20 2023") {
		t.Errorf("superblock time is not the epoch: %v\n%s", err, b)
	}

	// Checksums and sysupdate config beside the image.
	if res.SHA256 != testutil.FileSHA256(t, out) {
		t.Errorf("PackResult.SHA256 = %s, file hashes to %s", res.SHA256, testutil.FileSHA256(t, out))
	}
	sums, err := os.ReadFile(res.SHA256SumsFile)
	must(t, err)
	if want := res.SHA256 + "  hello-1.0-x86-64.raw\n"; string(sums) != want || filepath.Base(res.SHA256SumsFile) != "SHA256SUMS.hello" {
		t.Errorf("%s = %q, want %q", res.SHA256SumsFile, sums, want)
	}
	if filepath.Base(res.ConfFile) != "hello.conf" {
		t.Errorf("ConfFile = %s, want hello.conf", res.ConfFile)
	}
	conf, err := os.ReadFile(res.ConfFile)
	must(t, err)
	golden(t, "hello.conf", string(conf))
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("image mode: %v %v, want 0644", st.Mode(), err)
	}
	entries, err := os.ReadDir(filepath.Dir(out))
	must(t, err)
	if len(entries) != 3 {
		t.Errorf("output dir holds %d entries, want image, SHA256SUMS.hello, hello.conf (no leftovers)", len(entries))
	}
}

func TestPackSquashfsAnyOSNoArch(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	tree := filepath.Join(t.TempDir(), "tool")
	must(t, os.MkdirAll(filepath.Join(tree, "usr/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "usr/bin/tool"), []byte("x"), 0o755))
	// An extension-release file already in the tree that contradicts the
	// options is refused, never silently replaced.
	rel := filepath.Join(tree, "usr/lib/extension-release.d/extension-release.tool")
	must(t, os.MkdirAll(filepath.Dir(rel), 0o755))
	must(t, os.WriteFile(rel, []byte("ID=old\n"), 0o644))
	out := filepath.Join(t.TempDir(), "tool.raw")
	_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Output: out})
	if !errors.Is(err, sysextbuild.ErrReleaseConflict) || !strings.Contains(err.Error(), "sets ID=old but the options give ID=_any") {
		t.Fatalf("conflicting extension-release: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("image written despite the conflict")
	}
	// One that agrees is kept, with the generated fields it lacks added.
	must(t, os.WriteFile(rel, []byte("SYSEXT_NAME=\"My Tool\"\nID=_any\n"), 0o644))
	_, err = sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Output: out, Arch: flatcar.ArchARM64})
	must(t, err)
	if got := unsquashfsCat(t, out, "usr/lib/extension-release.d/extension-release.tool"); got != "SYSEXT_NAME=\"My Tool\"\nID=_any\nARCHITECTURE=arm64\n" {
		t.Errorf("merged extension-release:\n%s", got)
	}
	// Without one in the tree, the generated file alone.
	must(t, os.Remove(rel))
	_, err = sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Output: out})
	must(t, err)
	golden(t, "extension-release.any", unsquashfsCat(t, out, "usr/lib/extension-release.d/extension-release.tool"))
}

// TestPackOEM: --oem writes what Flatcar's OEM sysexts carry, keeps the
// vendor fields a tree provides and refuses contradicting options.
func TestPackOEM(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	tree := filepath.Join(t.TempDir(), "qemu-oem")
	must(t, os.MkdirAll(filepath.Join(tree, "usr/share/oem"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "usr/share/oem/README"), []byte("qemu\n"), 0o644))
	dir := t.TempDir()
	res, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, OEM: "qemu", Version: "4593.2.5", OutputDir: dir})
	must(t, err)
	if res.Output != filepath.Join(dir, "oem-qemu.raw") {
		t.Errorf("output %s, want oem-qemu.raw", res.Output)
	}
	want := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\nSYSEXT_ID=oem-qemu\nSYSEXT_VERSION_ID=4593.2.5\n"
	if got := unsquashfsCat(t, res.Output, "usr/lib/extension-release.d/extension-release.oem-qemu"); got != want {
		t.Errorf("extension-release.oem-qemu:\n%s\nwant:\n%s", got, want)
	}
	// A vendor's own fields are kept; without a version any Flatcar
	// version matches.
	rel := filepath.Join(tree, "usr/lib/extension-release.d/extension-release.oem-qemu")
	must(t, os.MkdirAll(filepath.Dir(rel), 0o755))
	must(t, os.WriteFile(rel, []byte("SYSEXT_NAME=\"QEMU\"\nSYSEXT_HOME_URL=\"https://www.qemu.org/\"\n"), 0o644))
	res, err = sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, OEM: "qemu", Arch: flatcar.ArchARM64, OutputDir: dir})
	must(t, err)
	want = "SYSEXT_NAME=QEMU\nSYSEXT_HOME_URL=https://www.qemu.org/\nID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\nEXTENSION_RELOAD_MANAGER=1\nSYSEXT_ID=oem-qemu\n"
	if got := unsquashfsCat(t, res.Output, "usr/lib/extension-release.d/extension-release.oem-qemu"); got != want {
		t.Errorf("merged extension-release.oem-qemu:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range []struct {
		o    sysextbuild.PackOptions
		want string
	}{
		{sysextbuild.PackOptions{OEM: "qemu", Name: "qemu"}, "named oem-qemu, not qemu"},
		{sysextbuild.PackOptions{OEM: "qemu", OS: "debian"}, "for Flatcar"},
		{sysextbuild.PackOptions{OEM: "Qemu"}, "invalid OEM ID"},
		{sysextbuild.PackOptions{OEM: "qemu", Version: "4593 2"}, "invalid version"},
		{sysextbuild.PackOptions{Version: "4593.2.5"}, "OEM sysexts only"},
	} {
		c.o.Dir, c.o.OutputDir = tree, dir
		if _, err := sysextbuild.Pack(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	// A provided release naming another OEM is refused.
	must(t, os.WriteFile(rel, []byte("SYSEXT_ID=oem-azure\n"), 0o644))
	if _, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, OEM: "qemu", OutputDir: dir}); !errors.Is(err, sysextbuild.ErrReleaseConflict) {
		t.Errorf("conflicting SYSEXT_ID: %v", err)
	}
}

func TestPackReproducible(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	for _, f := range []sysextbuild.Format{sysextbuild.FormatSquashfs} {
		t.Run(string(f), func(t *testing.T) { checkReproducible(t, f) })
	}
}

// checkReproducible packs the same tree twice, with different timestamps
// on the tree (and a different owner) in between, and compares hashes.
func checkReproducible(t *testing.T, f sysextbuild.Format) {
	t.Helper()
	tree := makeTree(t, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := sysextbuild.PackOptions{Dir: tree, Format: f, Arch: flatcar.ArchARM64, Epoch: testEpoch}
	opts.Output = filepath.Join(t.TempDir(), "a.raw")
	r1, err := sysextbuild.Pack(context.Background(), opts)
	must(t, err)
	touchTree(t, tree, time.Date(2024, 2, 3, 4, 5, 6, 7, time.UTC))
	if os.Geteuid() == 0 {
		chownTree(t, tree, 1234, 5678)
	}
	opts.Output = filepath.Join(t.TempDir(), "b.raw")
	r2, err := sysextbuild.Pack(context.Background(), opts)
	must(t, err)
	if r1.SHA256 != r2.SHA256 || testutil.FileSHA256(t, r1.Output) != testutil.FileSHA256(t, r2.Output) {
		t.Errorf("two %s packs of the same tree differ: %s vs %s", f, r1.SHA256, r2.SHA256)
	}
}

func TestPackRefusesUsrSbin(t *testing.T) {
	tree := filepath.Join(t.TempDir(), "bad")
	must(t, os.MkdirAll(filepath.Join(tree, "usr/sbin"), 0o755))
	out := filepath.Join(t.TempDir(), "bad.raw")
	_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Output: out})
	if !errors.Is(err, sysextbuild.ErrUsrSbin) {
		t.Fatalf("Pack with usr/sbin: err = %v, want ErrUsrSbin", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists after refusal: %v", err)
	}
}

func TestPackMissingToolNamesPackage(t *testing.T) {
	tree := makeTree(t, time.Unix(0, 0))
	t.Setenv("PATH", t.TempDir())
	for f, pkg := range map[sysextbuild.Format]string{
		sysextbuild.FormatSquashfs: "squashfs-tools", sysextbuild.FormatErofs: "erofs-utils",
		sysextbuild.FormatExt4: "e2fsprogs", sysextbuild.FormatBtrfs: "btrfs-progs",
	} {
		_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Format: f, Output: filepath.Join(t.TempDir(), "x.raw")})
		if !errors.Is(err, sysextbuild.ErrToolMissing) || !strings.Contains(err.Error(), pkg) {
			t.Errorf("format %s without tools: err = %v, want ErrToolMissing naming %s", f, err, pkg)
		}
	}
}

func TestPackBadOptions(t *testing.T) {
	tree := makeTree(t, time.Unix(0, 0))
	for name, o := range map[string]sysextbuild.PackOptions{
		"no dir":      {},
		"bad name":    {Dir: tree, Name: "a/b"},
		"bad os":      {Dir: tree, OS: "Flat Car"},
		"bad arch":    {Dir: tree, Arch: "mips"},
		"bad format":  {Dir: tree, Format: "zip"},
		"neg epoch":   {Dir: tree, Epoch: -1},
		"ext size sq": {Dir: tree, ExtFSSize: 1 << 20},
		"not a dir":   {Dir: filepath.Join(tree, "usr/bin/hello")},
		"out in tree": {Dir: tree, Output: filepath.Join(tree, "x.raw")},
	} {
		if o.Output == "" {
			o.Output = filepath.Join(t.TempDir(), "x.raw")
		}
		if _, err := sysextbuild.Pack(context.Background(), o); err == nil {
			t.Errorf("%s: Pack succeeded, want error", name)
		}
	}
}
