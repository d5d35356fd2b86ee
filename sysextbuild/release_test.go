package sysextbuild_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
)

func TestParseVersionsFile(t *testing.T) {
	in := `# comment
wasmtime-24.0.0
nvidia-runtime-v1.18.1
docker_compose-2.22.0
k3s-v1.31.1+k3s1
kubernetes-latest

kubernetes v1.28.5 # required for CAPO CI
kubernetes latest
wasmtime 24.0.0
`
	got, err := sysextbuild.ParseVersionsFile(strings.NewReader(in))
	must(t, err)
	want := []sysextbuild.VersionEntry{
		{"wasmtime", "24.0.0", 2}, {"nvidia-runtime", "v1.18.1", 3}, {"docker_compose", "2.22.0", 4},
		{"k3s", "v1.31.1+k3s1", 5}, {"kubernetes", "latest", 6}, {"kubernetes", "v1.28.5", 8},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseVersionsFile:\ngot  %v\nwant %v", got, want)
	}
	for _, bad := range []string{"justaname\n", "a b c\n", "x/y 1.0\n"} {
		if _, err := sysextbuild.ParseVersionsFile(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseVersionsFile(%q) succeeded, want error", bad)
		}
	}
}

// fakeBuilder packs a one-file tree with the recipe name and version, the
// way a recipe build would, and records the highest concurrency seen.
type fakeBuilder struct {
	running, max atomic.Int32
	mu           sync.Mutex
	calls        []string
	fail         string // recipe that fails
}

func (b *fakeBuilder) build(ctx context.Context, recipe, version string, arch flatcar.Arch, outDir string) (string, error) {
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		m := b.max.Load()
		if n <= m || b.max.CompareAndSwap(m, n) {
			break
		}
	}
	b.mu.Lock()
	b.calls = append(b.calls, recipe+"-"+version+"-"+string(arch))
	b.mu.Unlock()
	if recipe == b.fail {
		return "", errors.New("upstream download failed")
	}
	tree := filepath.Join(outDir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "usr/bin"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tree, "usr/bin", recipe), []byte(version+"\n"), 0o755); err != nil {
		return "", err
	}
	res, err := sysextbuild.Pack(ctx, sysextbuild.PackOptions{
		Dir: tree, Name: recipe, OS: "flatcar", Arch: arch, Output: filepath.Join(outDir, "out.raw"), Sysupdate: true,
	})
	if err != nil {
		return "", err
	}
	return res.Output, nil
}

func TestRelease(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs", "sha256sum")
	dir := t.TempDir()
	versions := filepath.Join(dir, "release_build_versions.txt")
	must(t, os.WriteFile(versions, []byte("# test\nwasmtime 24.0.0\nwasmtime latest\ndocker-compose-2.22.0\nkubernetes v1.28.5\n"), 0o644))
	out := filepath.Join(dir, "out")
	must(t, os.MkdirAll(out, 0o755))
	// Already built locally: kept, not rebuilt.
	must(t, os.WriteFile(filepath.Join(out, "docker-compose-2.22.0-arm64.raw"), []byte("local image"), 0o644))
	// Already published: not rebuilt, listed in SHA256SUMS.
	pubSum := strings.Repeat("ab", 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/latest/SHA256SUMS" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s  kubernetes-v1.28.5-x86-64.raw\n", pubSum)
	}))
	defer srv.Close()

	b := &fakeBuilder{}
	var logs []string
	var logMu sync.Mutex
	res, err := sysextbuild.Release(context.Background(), sysextbuild.ReleaseOptions{
		Versions: versions, OutputDir: out, Build: b.build, Jobs: 2,
		Latest: func(ctx context.Context, recipe string) ([]string, error) {
			if recipe != "wasmtime" {
				return nil, fmt.Errorf("unexpected latest %s", recipe)
			}
			return []string{"25.0.1"}, nil
		},
		PublishedSums: srv.URL + "/latest/SHA256SUMS",
		BakeryURL:     "https://example.org/bakery",
		Log:           func(m string) { logMu.Lock(); logs = append(logs, m); logMu.Unlock() },
	})
	must(t, err)
	if b.max.Load() > 2 {
		t.Errorf("%d builds ran at once, want at most 2 (--jobs)", b.max.Load())
	}
	if len(b.calls) != 6 {
		t.Errorf("builder called %d times (%v), want 6 (4 entries x 2 arches minus 2 skipped)", len(b.calls), b.calls)
	}
	status := map[string]string{}
	for _, img := range res.Images {
		status[img.File] = img.Status
	}
	wantStatus := map[string]string{
		"wasmtime-24.0.0-x86-64.raw": "built", "wasmtime-24.0.0-arm64.raw": "built",
		"wasmtime-25.0.1-x86-64.raw": "built", "wasmtime-25.0.1-arm64.raw": "built",
		"docker-compose-2.22.0-x86-64.raw": "built", "docker-compose-2.22.0-arm64.raw": "existing",
		"kubernetes-v1.28.5-x86-64.raw": "published", "kubernetes-v1.28.5-arm64.raw": "built",
	}
	if !reflect.DeepEqual(status, wantStatus) {
		t.Errorf("image status:\ngot  %v\nwant %v", status, wantStatus)
	}

	// Built images carry the right metadata.
	rel := testutil.Run(t, "unsquashfs", "-cat", filepath.Join(out, "wasmtime-25.0.1-arm64.raw"), "usr/lib/extension-release.d/extension-release.wasmtime")
	if !strings.Contains(rel, "ARCHITECTURE=arm64") {
		t.Errorf("wasmtime arm64 image metadata:\n%s", rel)
	}
	// SHA256SUMS checks out with sha256sum for the local images and lists the published one.
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	must(t, err)
	if !strings.Contains(string(sums), pubSum+"  kubernetes-v1.28.5-x86-64.raw\n") || strings.Count(string(sums), "\n") != 8 {
		t.Errorf("SHA256SUMS:\n%s", sums)
	}
	var local []string
	for _, l := range strings.SplitAfter(string(sums), "\n") {
		if l != "" && !strings.Contains(l, "kubernetes-v1.28.5-x86-64.raw") {
			local = append(local, l)
		}
	}
	cmd := exec.Command("sha256sum", "-c", "--strict", "-")
	cmd.Dir = out
	cmd.Stdin = strings.NewReader(strings.Join(local, ""))
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, o)
	}
	conf, err := os.ReadFile(filepath.Join(out, "docker-compose.conf"))
	must(t, err)
	if !strings.Contains(string(conf), "Path=https://example.org/bakery/docker-compose/\nMatchPattern=docker-compose-@v-%a.raw\n") {
		t.Errorf("docker-compose.conf:\n%s", conf)
	}
	for _, f := range []string{"wasmtime.conf", "kubernetes.conf", "noop.conf", "SHA256SUMS.wasmtime", "Release.md"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	notes, err := os.ReadFile(filepath.Join(out, "Release.md"))
	must(t, err)
	if !strings.Contains(string(notes), "| wasmtime | 25.0.1 | arm64 | `wasmtime-25.0.1-arm64.raw` |") || !strings.Contains(string(notes), "8 images: 6 built, 1 already present, 1 already published.") {
		t.Errorf("Release.md:\n%s", notes)
	}
	entries, err := os.ReadDir(out)
	must(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover temporary %s", e.Name())
		}
	}

	// A second run rebuilds nothing.
	b2 := &fakeBuilder{}
	_, err = sysextbuild.Release(context.Background(), sysextbuild.ReleaseOptions{
		Versions: versions, OutputDir: out, Build: b2.build, PublishedSums: srv.URL + "/latest/SHA256SUMS",
		Latest: func(context.Context, string) ([]string, error) { return []string{"25.0.1"}, nil },
	})
	must(t, err)
	if len(b2.calls) != 0 {
		t.Errorf("second run built %v, want nothing", b2.calls)
	}
}

func TestReleaseBuildFailure(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	dir := t.TempDir()
	versions := filepath.Join(dir, "v.txt")
	must(t, os.WriteFile(versions, []byte("good 1.0\nbad 2.0\n"), 0o644))
	out := filepath.Join(dir, "out")
	b := &fakeBuilder{fail: "bad"}
	_, err := sysextbuild.Release(context.Background(), sysextbuild.ReleaseOptions{
		Versions: versions, OutputDir: out, Build: b.build, Arches: []flatcar.Arch{flatcar.ArchX86_64},
	})
	if err == nil || !strings.Contains(err.Error(), "bad-2.0-x86-64.raw") || !strings.Contains(err.Error(), "upstream download failed") {
		t.Fatalf("err = %v, want the failed build named", err)
	}
	if _, err := os.Stat(filepath.Join(out, "good-1.0-x86-64.raw")); err != nil {
		t.Errorf("the good build was not kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "SHA256SUMS")); !os.IsNotExist(err) {
		t.Errorf("SHA256SUMS written despite a failed build")
	}
	// latest without a version source is a clear error.
	must(t, os.WriteFile(versions, []byte("good latest\n"), 0o644))
	if _, err := sysextbuild.Release(context.Background(), sysextbuild.ReleaseOptions{Versions: versions, OutputDir: out, Build: b.build}); err == nil {
		t.Errorf("latest without a Latest func succeeded")
	}
}
