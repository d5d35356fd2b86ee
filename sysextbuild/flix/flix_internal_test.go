package flix

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

// privateRun runs argv in a private mount namespace where tree's
// usr/local/NAME is mounted at /usr/local/NAME, like the merged sysext
// would be. Without namespaces it skips the test (fails when
// BAKE_TEST_REQUIRE_TOOLS requires them).
func privateRun(t *testing.T, tree, name string, argv ...string) string {
	t.Helper()
	bw, err := exec.LookPath("bwrap")
	if err != nil {
		testutil.RequireTool(t, "bwrap")
	}
	out, err := exec.Command(bw, "--bind", "/", "/", "true").CombinedOutput()
	testutil.Require(t, err == nil, "namespaces", fmt.Sprintf("bwrap not allowed here: %v: %s", err, out))
	args := []string{"--bind", "/", "/", "--tmpfs", "/usr/local",
		"--bind", filepath.Join(tree, "usr/local", name), "/usr/local/" + name, "--"}
	out, err = exec.Command(bw, append(args, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("running %v privately: %v\n%s", argv, err, out)
	}
	return string(out)
}

func TestFlixTreeHostBinary(t *testing.T) {
	testutil.RequireTool(t, "patchelf", "ldd")
	root := rootfstest.HostRootfs(t, "cat")
	rootfstest.Write(t, filepath.Join(root, "usr/share/flixtest/data"), "resource\n")
	rootfstest.Write(t, filepath.Join(root, "etc/flixtest.conf"), "conf\n")
	rootfstest.Must(t, os.Symlink("/usr/bin/cat", filepath.Join(root, "usr/bin/kitty")))

	tree := filepath.Join(t.TempDir(), "tree")
	var warnings []string
	err := buildFlixTree(context.Background(), Options{Rootfs: root, Name: "cattest",
		Paths: []string{"/usr/bin/kitty", "/usr/share/flixtest", "/etc/flixtest.conf:/usr/share/flixtest.conf"},
		Pack:  sysextbuild.PackOptions{Warn: func(m string) { warnings = append(warnings, m) }}}, tree)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q", warnings)
	if l, err := os.Readlink(filepath.Join(tree, "usr/bin/kitty")); err != nil || l != "/usr/bin/cat" {
		t.Errorf("kitty link = %q, %v", l, err)
	}
	for _, f := range []string{"usr/share/flixtest/data", "usr/share/flixtest.conf", "usr/local/cattest/libc.so.6"} {
		if _, err := os.Stat(filepath.Join(tree, f)); err != nil {
			t.Error(err)
		}
	}
	bin := filepath.Join(tree, "usr/bin/cat")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	var interp string
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if !strings.HasPrefix(interp, "/usr/local/cattest/ld-") {
		t.Errorf("interpreter = %q", interp)
	}
	if _, err := os.Stat(filepath.Join(tree, interp)); err != nil {
		t.Errorf("interpreter not shipped: %v", err)
	}
	for _, f := range []string{bin, filepath.Join(tree, "usr/local/cattest/libc.so.6")} {
		ef, err := elf.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		rp, _ := ef.DynString(elf.DT_RUNPATH)
		rp2, _ := ef.DynString(elf.DT_RPATH)
		flags, _ := ef.DynValue(elf.DT_FLAGS_1)
		ef.Close()
		if got := strings.Join(append(rp, rp2...), ":"); got != "/usr/local/cattest:/usr/local/cattest/extralibs" {
			t.Errorf("%s rpath = %q", f, got)
		}
		if len(flags) == 0 || flags[0]&uint64(elf.DF_1_NODEFLIB) == 0 {
			t.Errorf("%s lacks DF_1_NODEFLIB: %v", f, flags)
		}
	}

	// Run it: the mapped libraries must come from /usr/local/cattest only.
	maps := privateRun(t, tree, "cattest", bin, "/proc/self/maps")
	if !strings.Contains(maps, "/usr/local/cattest/libc.so.6") || !strings.Contains(maps, interp) {
		t.Errorf("flixed cat did not map its own libc and loader:\n%s", maps)
	}
	for _, line := range strings.Split(maps, "\n") {
		if strings.Contains(line, ".so") && !strings.Contains(line, "/usr/local/cattest/") {
			t.Errorf("foreign library mapped: %s", line)
		}
	}
	if out := privateRun(t, tree, "cattest", bin, filepath.Join(tree, "usr/share/flixtest/data")); out != "resource\n" {
		t.Errorf("flixed cat output %q", out)
	}
}

func TestFlixTreeRefusesEscapes(t *testing.T) {
	testutil.RequireTool(t, "patchelf")
	root := t.TempDir()
	rootfstest.Write(t, filepath.Join(root, "usr/bin/tool"), "#!/bin/sh\n")
	rootfstest.Must(t, os.Symlink("../../../../../../etc/passwd", filepath.Join(root, "usr/bin/evil")))
	rootfstest.Must(t, os.MkdirAll(filepath.Join(root, "usr/share"), 0o755))
	rootfstest.Must(t, os.Symlink("../../..", filepath.Join(root, "usr/share/up")))
	for _, paths := range [][]string{
		{"/usr/bin/../../etc/passwd"},
		{"/usr/bin/evil"},
		{"/usr/share/up/etc/passwd"},
		{"/usr/bin/tool:/usr/../etc/tool"},
	} {
		err := buildFlixTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: paths}, filepath.Join(t.TempDir(), "tree"))
		if !errors.Is(err, rootfs.ErrPathEscapes) {
			t.Errorf("paths %q: error %v, want rootfs.ErrPathEscapes", paths, err)
		}
	}
	err := buildFlixTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: []string{"/usr/bin/tool"}, ExtraLibs: []string{"/../lib/libz.so"}}, filepath.Join(t.TempDir(), "tree"))
	if !errors.Is(err, rootfs.ErrPathEscapes) {
		t.Errorf("extra lib with ..: %v", err)
	}
	if err := buildFlixTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: []string{"/etc/passwd"}}, filepath.Join(t.TempDir(), "tree")); err == nil || !strings.Contains(err.Error(), "SRC:/usr/TARGET") {
		t.Errorf("path outside /usr without target: %v", err)
	}
}

// TestFlixPacked runs the whole of Flix and executes the binary from the
// unpacked squashfs image.
func TestFlixPacked(t *testing.T) {
	testutil.RequireTool(t, "patchelf", "ldd", "mksquashfs", "unsquashfs")
	root := rootfstest.HostRootfs(t, "cat")
	out := t.TempDir()
	res, err := Build(context.Background(), Options{Rootfs: root, Name: "catsx", Paths: []string{"/usr/bin/cat"},
		Pack: sysextbuild.PackOptions{Output: filepath.Join(out, "catsx.raw")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != filepath.Join(out, "catsx.raw") || len(res.SHA256) != 64 {
		t.Errorf("result %+v", res)
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "SHA256SUMS.catsx catsx.raw" {
		t.Errorf("output dir holds %q (temporary tree left behind?)", names)
	}
	unpacked := filepath.Join(t.TempDir(), "sx")
	testutil.Run(t, "unsquashfs", "-no-xattrs", "-d", unpacked, res.Output)
	rel, err := os.ReadFile(filepath.Join(unpacked, "usr/lib/extension-release.d/extension-release.catsx"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("extension-release: %q", rel)
	maps := privateRun(t, unpacked, "catsx", filepath.Join(unpacked, "usr/bin/cat"), "/proc/self/maps")
	if !strings.Contains(maps, "/usr/local/catsx/libc.so.6") {
		t.Errorf("unpacked flixed cat did not use its own libc:\n%s", maps)
	}

	// Same input, same image.
	again, err := Build(context.Background(), Options{Rootfs: root, Name: "catsx", Paths: []string{"/usr/bin/cat"},
		Pack: sysextbuild.PackOptions{Output: filepath.Join(t.TempDir(), "catsx.raw")}})
	if err != nil {
		t.Fatal(err)
	}
	if again.SHA256 != res.SHA256 {
		t.Errorf("flixing twice gave %s and %s", res.SHA256, again.SHA256)
	}

	// Keep leaves the tree beside the output and refuses to overwrite it.
	o := Options{Rootfs: root, Name: "kept", Paths: []string{"/usr/bin/cat"}, Keep: true,
		Pack: sysextbuild.PackOptions{Output: filepath.Join(out, "kept.raw")}}
	if _, err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "kept/usr/local/kept/libc.so.6")); err != nil {
		t.Error("kept tree missing:", err)
	}
	if _, err := Build(context.Background(), o); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second kept run: %v", err)
	}
}

// TestFlixExtraLibAndOrigin covers --extra-lib (copied to extralibs/ with
// what it needs) and the warning for $ORIGIN rpaths.
func TestFlixExtraLibAndOrigin(t *testing.T) {
	testutil.RequireTool(t, "patchelf", "ldd")
	root := rootfstest.HostRootfs(t, "cat")
	libc, err := filepath.Glob(filepath.Join(root, "usr/lib/*/libc.so.6"))
	if err != nil || len(libc) != 1 {
		t.Skipf("libc not at usr/lib/*/libc.so.6 in the test rootfs: %v", libc)
	}
	// A "plugin" that needs libc, loaded with dlopen by nobody in particular.
	plugin := filepath.Join(filepath.Dir(libc[0]), "plugins/libplug.so")
	rootfstest.CopyHostFile(t, libc[0], plugin)
	testutil.Run(t, "patchelf", "--set-rpath", "$ORIGIN/../lib", filepath.Join(root, "usr/bin/cat"))
	rel, _ := filepath.Rel(root, plugin)
	tree := filepath.Join(t.TempDir(), "tree")
	var warnings []string
	err = buildFlixTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: []string{"/usr/bin/cat"},
		ExtraLibs: []string{"/" + rel}, Pack: sysextbuild.PackOptions{Warn: func(m string) { warnings = append(warnings, m) }}}, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "$ORIGIN/../lib") {
		t.Errorf("warnings %q, want one about $ORIGIN", warnings)
	}
	ef, err := elf.Open(filepath.Join(tree, "usr/local/x/extralibs/libplug.so"))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if rp, _ := ef.DynString(elf.DT_RUNPATH); len(rp) != 1 || rp[0] != "/usr/local/x:/usr/local/x/extralibs" {
		t.Errorf("extra lib runpath %q", rp)
	}
}

// TestFlixMultiarchWithoutLdSoConf: a Debian/Ubuntu root filesystem whose
// libraries live only in the multiarch directory (usr/lib/x86_64-linux-gnu,
// reached as /lib/x86_64-linux-gnu through lib -> usr/lib) and that has no
// ld.so.conf at all: Flix must search where the loader searches by
// default for the binary's machine.
func TestFlixMultiarchWithoutLdSoConf(t *testing.T) {
	testutil.RequireTool(t, "patchelf", "ldd")
	root := rootfstest.HostRootfs(t, "cat")
	rootfstest.Must(t, os.RemoveAll(filepath.Join(root, "etc/ld.so.conf")))
	rootfstest.Must(t, os.RemoveAll(filepath.Join(root, "etc/ld.so.conf.d")))
	libc, err := filepath.Glob(filepath.Join(root, "usr/lib/*-linux-gnu/libc.so.6"))
	if err != nil || len(libc) != 1 {
		t.Fatalf("host libc is not in a multiarch directory (%v %v): this test needs a Debian-style host", libc, err)
	}
	tree := filepath.Join(t.TempDir(), "tree")
	if err := buildFlixTree(context.Background(), Options{Rootfs: root, Name: "cattest", Paths: []string{"/usr/bin/cat"}}, tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tree, "usr/local/cattest/libc.so.6")); err != nil {
		t.Fatalf("libc not shipped: %v", err)
	}
	if out := privateRun(t, tree, "cattest", filepath.Join(tree, "usr/bin/cat"), "/proc/self/maps"); !strings.Contains(out, "/usr/local/cattest/libc.so.6") {
		t.Errorf("flixed cat did not map its own libc:\n%s", out)
	}
}

// TestFlixDefaultLibDirs: the loader's built-in directories per machine,
// after what ld.so.conf names.
func TestFlixDefaultLibDirs(t *testing.T) {
	for _, c := range []struct {
		class   elf.Class
		machine elf.Machine
		first   []string
	}{
		{elf.ELFCLASS64, elf.EM_X86_64, []string{"etc-listed", "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"}},
		{elf.ELFCLASS64, elf.EM_AARCH64, []string{"etc-listed", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"}},
		{elf.ELFCLASS64, elf.EM_NONE, []string{"etc-listed", "lib64", "usr/lib64", "lib", "usr/lib"}},
	} {
		ft := &flixTree{confDirs: []string{"etc-listed"}, class: c.class, machine: c.machine}
		got := ft.libDirs()
		if strings.Join(got[:len(c.first)], " ") != strings.Join(c.first, " ") {
			t.Errorf("%v: lib dirs %q, want them to start with %q", c.machine, got, c.first)
		}
	}
}
