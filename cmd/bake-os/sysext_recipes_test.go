package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// fakeUpstream serves https://HOST/PATH at SERVER/HOST/PATH and records
// Authorization headers.
func fakeUpstream(t *testing.T, files map[string][]byte, headers map[string]string) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.RequestURI(), "/")
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		body, ok := files[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if h, ok := headers[key]; ok {
			w.Header().Set("Link", h)
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &auth
}

func tgzOf(t *testing.T, name, body string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestSysextListCommand(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, dir, "sysext", "list")
	if code != 0 || !strings.Contains(out, "kubernetes") || !strings.Contains(out, "docker-compose (docker_compose)") {
		t.Fatalf("sysext list: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := run(t, dir, "sysext", "list", "--latest"); code != exitUsage {
		t.Errorf("list --latest without RECIPE: exit %d, want %d", code, exitUsage)
	}
	p1 := "api.github.com/repos/tailscale/tailscale/releases?per_page=100"
	p2 := "api.github.com/repos/tailscale/tailscale/releases?per_page=100&page=2"
	srv, auth := fakeUpstream(t, map[string][]byte{
		p1: []byte(`[{"tag_name":"v1.76.1"},{"tag_name":"v1.78.0-pre","prerelease":true}]`),
		p2: []byte(`[{"tag_name":"v1.78.1"},{"tag_name":"v1.9.0"}]`),
	}, map[string]string{p1: `<https://` + p2 + `>; rel="next"`})
	t.Setenv("GH_TOKEN", "tok")
	t.Setenv("BAKE_OS_URL_REWRITE", "https://="+srv.URL+"/")
	out, stderr, code = run(t, dir, "sysext", "list", "tailscale")
	if code != 0 || out != "v1.78.1\nv1.76.1\nv1.9.0\n" {
		t.Errorf("sysext list tailscale: exit %d\n%q\n%s", code, out, stderr)
	}
	for _, a := range *auth {
		if a != "Bearer tok" {
			t.Errorf("Authorization %q, want Bearer tok", a)
		}
	}
	out, _, code = run(t, dir, "sysext", "list", "tailscale", "--latest")
	if code != 0 || out != "v1.78.1\n" {
		t.Errorf("sysext list tailscale --latest: exit %d %q", code, out)
	}
}

func TestSysextCreateCommand(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	dir := t.TempDir()
	base := "github.com/rancher/rke2/releases/download/v1.32.2+rke2r1/"
	tgz := tgzOf(t, "bin/rke2", "#!/bin/sh\n")
	sum := sha256.Sum256(tgz)
	files := map[string][]byte{
		base + "rke2.linux-amd64.tar.gz": tgz,
		base + "sha256sum-amd64.txt":     []byte(hex.EncodeToString(sum[:]) + "  rke2.linux-amd64.tar.gz\n"),
	}
	srv, _ := fakeUpstream(t, files, nil)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out, stderr, code := run(t, dir, "sysext", "create", "rke2", "v1.32.2+rke2r1", "--url-rewrite", "https://="+srv.URL+"/", "-q")
	want := filepath.Join(dir, "rke2-v1.32.2+rke2r1-x86-64.raw")
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("sysext create: exit %d, stdout %q, want %s\n%s", code, out, want, stderr)
	}
	if s := testutil.Run(t, "unsquashfs", "-cat", want, "usr/local/bin/rke2"); s != "#!/bin/sh\n" {
		t.Errorf("usr/local/bin/rke2 = %q", s)
	}
	// A tampered artefact is a verification failure (exit 3) naming the file.
	files[base+"rke2.linux-amd64.tar.gz"] = tgzOf(t, "bin/rke2", "#!/bin/sh\necho evil\n")
	_, stderr, code = run(t, dir, "sysext", "create", "rke2", "v1.32.2+rke2r1", "--url-rewrite", "https://="+srv.URL+"/",
		"--output", "other.raw", "-q")
	if code != exitVerify || !strings.Contains(stderr, "rke2.linux-amd64.tar.gz") {
		t.Errorf("tampered: exit %d, want %d\n%s", code, exitVerify, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.raw")); err == nil {
		t.Error("an image was written from a tampered artefact")
	}
	if _, _, code := run(t, dir, "sysext", "create", "docker", "27.3.1", "--opt", "nonsense"); code != exitUsage {
		t.Errorf("--opt nonsense: exit %d, want %d", code, exitUsage)
	}
}
