package recipe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/internal/verify"
)

const (
	exe  = "-rwxr-xr-x"
	file = "-rw-r--r--"
)

// recipeCase builds one recipe from a fake mirror and checks the image
// file by file.
type recipeCase struct {
	name  string
	o     CreateOptions
	env   map[string]string
	serve func(t *testing.T, m *mirror)
	// files lists every non-directory entry of the image besides the
	// extension-release file: path -> mode ("-rwxr-xr-x") or "->target".
	files map[string]string
	// contents: path -> substring the file must contain.
	contents map[string]string
	// output is the expected image file name (default output path).
	output string
	// extra files expected beside the image.
	beside []string
}

func runRecipeCase(t *testing.T, c recipeCase) string {
	t.Helper()
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	m := newMirror(t)
	c.serve(t, m)
	dir := t.TempDir()
	t.Chdir(dir)
	o := c.o
	o.URLRewrites = m.rewrites()
	o.Epoch = 1700000000
	o.Getenv = func(k string) string { return c.env[k] }
	res, err := Create(context.Background(), o)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if res.Output != filepath.Join(dir, c.output) {
		t.Errorf("output %q, want %q in %s", res.Output, c.output, dir)
	}
	img := filepath.Join(dir, c.output)
	for _, b := range c.beside {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Errorf("missing %s beside the image: %v", b, err)
		}
	}
	ents := listImage(t, img)
	name := o.Name
	if name == "" {
		name = o.Recipe
	}
	rel := "usr/lib/extension-release.d/extension-release." + name
	want := map[string]string{rel: file}
	for p, mode := range c.files {
		want[p] = mode
	}
	var got []string
	for p, e := range ents {
		if e.Owner != "root/root" {
			t.Errorf("%s owned by %s, want root/root", p, e.Owner)
		}
		if e.Mode[0] == 'd' {
			if strings.HasPrefix(p, "usr/sbin") {
				t.Errorf("image has %s", p)
			}
			continue
		}
		got = append(got, p)
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("unexpected %s %s in image", e.Mode, p)
		case strings.HasPrefix(w, "->"):
			if e.Mode[0] != 'l' || e.Link != strings.TrimPrefix(w, "->") {
				t.Errorf("%s: %s -> %q, want symlink %s", p, e.Mode, e.Link, w)
			}
		case e.Mode != w:
			t.Errorf("%s: mode %s, want %s", p, e.Mode, w)
		}
	}
	for p := range want {
		if _, ok := ents[p]; !ok {
			t.Errorf("missing %s from image", p)
		}
	}
	for p, sub := range c.contents {
		if s := catImage(t, img, p); !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", p, sub, s)
		}
	}
	er := catImage(t, img, rel)
	wantRel := "ID=_any\nARCHITECTURE=" + string(o.Arch)
	if o.Arch == "" {
		wantRel = "ID=_any\nARCHITECTURE=x86-64"
	}
	r, _ := Lookup(o.Recipe)
	if r.Reload {
		wantRel += "\nEXTENSION_RELOAD_MANAGER=1"
	}
	if strings.TrimSpace(er) != wantRel {
		t.Errorf("extension-release:\n%s\nwant:\n%s", er, wantRel)
	}
	if t.Failed() {
		sort.Strings(got)
		t.Logf("image files: %s", strings.Join(got, "\n  "))
	}
	return img
}

// staticFiles lists a recipe's embedded static files with their modes.
func staticFiles(t *testing.T, recipe string, except ...string) map[string]string {
	t.Helper()
	r, err := Lookup(recipe)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	if r.static == nil {
		return out
	}
	walkStatic(t, r, func(p string) {
		for _, e := range except {
			if strings.HasPrefix(p, e) {
				return
			}
		}
		out[p] = file
		if m := r.StaticModes[p]; m == "0755" {
			out[p] = exe
		}
	})
	return out
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestCreateSeedRecipes(t *testing.T) {
	for _, c := range seedCases(t) {
		t.Run(c.name, func(t *testing.T) { runRecipeCase(t, c) })
	}
}

func TestCreateRefusesBadChecksum(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	m := newMirror(t)
	base := "https://github.com/rancher/rke2/releases/download/v1.32.2+rke2r1/"
	tgz := tarGz(t, fakeEntry{Name: "bin/rke2", Mode: 0o755, Body: fakeBin("rke2")})
	m.put(base+"rke2.linux-amd64.tar.gz", tgz)
	m.put(base+"sha256sum-amd64.txt", []byte(sum256([]byte("something else"))+"  rke2.linux-amd64.tar.gz\n"))
	dir := t.TempDir()
	out := filepath.Join(dir, "rke2.raw")
	_, err := Create(context.Background(), CreateOptions{
		Recipe: "rke2", Version: "v1.32.2+rke2r1", Output: out, URLRewrites: m.rewrites(),
		Getenv: func(string) string { return "" },
	})
	if !errors.Is(err, verify.ErrFailed) || !strings.Contains(err.Error(), "rke2.linux-amd64.tar.gz") {
		t.Fatalf("want a checksum mismatch naming the tarball, got %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left files behind: %v", ents)
	}
	// A checksum file that does not list the artefact is refused too.
	m.put(base+"sha256sum-amd64.txt", []byte(sum256(tgz)+"  rke2.linux-arm64.tar.gz\n"))
	_, err = Create(context.Background(), CreateOptions{
		Recipe: "rke2", Version: "v1.32.2+rke2r1", Output: out, URLRewrites: m.rewrites(),
		Getenv: func(string) string { return "" },
	})
	if err == nil || !strings.Contains(err.Error(), "no SHA-256 listed for rke2.linux-amd64.tar.gz") {
		t.Fatalf("want a missing-checksum error, got %v", err)
	}
}

func TestCreateOptionErrors(t *testing.T) {
	for _, c := range []struct {
		o    CreateOptions
		env  map[string]string
		want string
	}{
		{CreateOptions{Recipe: "nope", Version: "1"}, nil, `unknown recipe "nope"`},
		{CreateOptions{Recipe: "docker", Version: "27.3.1", Without: []string{"podman"}}, nil, `--without "podman" is not one of docker, containerd`},
		{CreateOptions{Recipe: "docker", Version: "27.3.1", Without: []string{"docker", "containerd"}}, nil, "leaves nothing"},
		{CreateOptions{Recipe: "docker", Version: "27.3.1"}, map[string]string{"ONLY_DOCKER": "1", "ONLY_CONTAINERD": "1"}, "ONLY_CONTAINERD and ONLY_DOCKER are mutually exclusive"},
		{CreateOptions{Recipe: "wasmtime", Version: "24.0.0", Without: []string{"docker"}}, nil, "recipe wasmtime has no option --without"},
		{CreateOptions{Recipe: "wasmtime", Version: ""}, nil, "needs a version"},
		{CreateOptions{Recipe: "wasmtime", Version: "24.0.0", Arch: "riscv64"}, nil, "does not support architecture"},
		{CreateOptions{Recipe: "llamaedge", Version: "0.14.0"}, nil, "needs --wasmedge-version"},
	} {
		env := c.env
		c.o.Getenv = func(k string) string { return env[k] }
		_, err := Create(context.Background(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want error containing %q", c.o, err, c.want)
		}
	}
}

func TestContainerRecipeNeedsEngine(t *testing.T) {
	for _, recipe := range []string{"keepalived", "nvidia-runtime", "btop", "tilde"} {
		_, err := Create(context.Background(), CreateOptions{
			Recipe: recipe, Version: "v2.3.1", Output: filepath.Join(t.TempDir(), "x.raw"),
			Engines: []string{"bake-os-no-such-engine"}, Getenv: func(string) string { return "" },
		})
		if !errors.Is(err, ErrNoContainerEngine) || !strings.Contains(err.Error(), "install and start docker or podman") {
			t.Errorf("%s: want a clear no-engine error, got %v", recipe, err)
		}
	}
}

var _ = flatcar.ArchARM64

// TestCreateReproducible builds the same recipe twice (the second time
// with a different name for the work dir and a later wall clock) and
// compares the images byte for byte.
func TestCreateReproducible(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	m := newMirror(t)
	m.put("https://github.com/bytecodealliance/wasmtime/releases/download/v24.0.0/wasmtime-v24.0.0-aarch64-linux.tar.xz", tarXz(t,
		fakeEntry{Name: "wasmtime-v24.0.0-aarch64-linux/wasmtime", Mode: 0o755, Body: fakeBin("wasmtime")}))
	var sums []string
	for i := 0; i < 2; i++ {
		res, err := Create(context.Background(), CreateOptions{
			Recipe: "wasmtime", Version: "24.0.0", Arch: flatcar.ArchARM64, OutputDir: t.TempDir(),
			URLRewrites: m.rewrites(), Epoch: 1700000000, Getenv: func(string) string { return "" },
		})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(res.Output)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum256(data))
		if res.SHA256 != sums[i] {
			t.Errorf("sysextbuild.PackResult.SHA256 %s, file has %s", res.SHA256, sums[i])
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds differ: %s vs %s", sums[0], sums[1])
	}
}

// TestCreateRefusesSymlinkEscape: an archive that plants a symlink and
// then writes through it must not touch anything outside the tree.
func TestCreateRefusesSymlinkEscape(t *testing.T) {
	outside := t.TempDir()
	m := newMirror(t)
	m.put("https://github.com/coder/coder/releases/download/v2.17.2/coder_2.17.2_linux_amd64.tar.gz", nil)
	m.put("https://download.falco.org/packages/bin/x86_64/falco-0.39.2-x86_64.tar.gz", tarGz(t,
		fakeEntry{Name: "falco/usr/bin", Link: outside},
		fakeEntry{Name: "falco/usr/bin/falco", Mode: 0o755, Body: "evil\n"},
	))
	dir := t.TempDir()
	_, err := Create(context.Background(), CreateOptions{
		Recipe: "falco", Version: "0.39.2", OutputDir: dir, URLRewrites: m.rewrites(), Getenv: func(string) string { return "" },
	})
	if err == nil || !strings.Contains(err.Error(), "goes through the symlink usr/bin") {
		t.Errorf("want a symlink refusal, got %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside the tree: %v", ents)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v in the output dir", ents)
	}
}

func TestRecipeBuilder(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	m := newMirror(t)
	m.put("https://github.com/docker/compose/releases/download/v2.22.0/docker-compose-linux-aarch64", []byte(fakeBin("compose")))
	build := Builder(CreateOptions{URLRewrites: m.rewrites(), Name: "ignored", Getenv: func(string) string { return "" }})
	dir := t.TempDir()
	p, err := build(context.Background(), "docker_compose", "2.22.0", flatcar.ArchARM64, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "docker_compose-2.22.0-arm64.raw") {
		t.Errorf("built %s", p)
	}
	if s := catImage(t, p, "usr/lib/extension-release.d/extension-release.docker_compose"); !strings.Contains(s, "ARCHITECTURE=arm64") {
		t.Errorf("extension-release.docker_compose:\n%s", s)
	}
}
