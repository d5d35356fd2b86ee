package fetch_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/internal/verify"
)

func bakerySetup(t *testing.T) (*fakeServer, fetch.Options) {
	t.Helper()
	s := newFakeServer(t)
	k := newTestKey(t, time.Now().Add(-time.Hour), 0)
	s.bakery(map[string][]byte{
		"docker-28.0.4-x86-64.raw": bytes.Repeat([]byte("docker"), 50000),
		"docker.conf":              []byte("[Transfer]\nVerify=false\n"),
		"wasmtime-1.0-x86-64.raw":  []byte("wasmtime sysext"),
	})
	return s, testOptions(t, s, k)
}

func TestFetchSysextHappyPathThenWarmCache(t *testing.T) {
	s, o := bakerySetup(t)
	sx, err := fetch.FetchSysext(t.Context(), o, "docker", "docker-28.0.4-x86-64.raw")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(sx.RawPath); !bytes.Equal(got, bytes.Repeat([]byte("docker"), 50000)) {
		t.Fatal("sysext differs")
	}
	if got, _ := os.ReadFile(sx.ConfPath); string(got) != "[Transfer]\nVerify=false\n" {
		t.Fatalf("conf %q", got)
	}
	// No NAME.conf on the server: ConfPath is empty.
	wx, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw")
	if err != nil || wx.ConfPath != "" {
		t.Fatalf("wasmtime: %+v %v", wx, err)
	}
	n := s.count()
	for range 2 {
		sx2, err := fetch.FetchSysext(t.Context(), o, "docker", "docker-28.0.4-x86-64.raw")
		if err != nil || *sx2 != *sx {
			t.Fatalf("reuse: %+v %v", sx2, err)
		}
		if _, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw"); err != nil {
			t.Fatal(err)
		}
		s.srv.Close() // second round: server gone
	}
	if s.count() != n {
		t.Fatalf("warm cache made %d requests: %v", s.count()-n, s.requestLog()[n:])
	}
}

func TestFetchSysextRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(s *fakeServer)
		why    string
	}{
		{"not in SHA256SUMS", func(s *fakeServer) {
			s.put("/bakery/SHA256SUMS", []byte(strings.Repeat("ab", 32)+"  other.raw\n"))
		}, "not listed in"},
		{"another hash", func(s *fakeServer) {
			s.put("/bakery/docker-28.0.4-x86-64.raw", []byte("evil"))
		}, "SHA256"},
		{"conf with another hash", func(s *fakeServer) {
			s.put("/bakery/docker.conf", []byte("[Transfer]\nVerify=true\n# changed\n"))
		}, "docker.conf"},
		{"conf not in SHA256SUMS", func(s *fakeServer) {
			// The image is listed, the conf is served but not listed.
			s.put("/bakery/SHA256SUMS", []byte(sha256Line("docker-28.0.4-x86-64.raw", bytes.Repeat([]byte("docker"), 50000))))
		}, "docker.conf is not listed"},
		{"SHA256SUMS with a line it cannot read", func(s *fakeServer) {
			s.put("/bakery/SHA256SUMS", []byte(sha256Line("docker-28.0.4-x86-64.raw", bytes.Repeat([]byte("docker"), 50000))+
				sha256Line("docker.conf", []byte("[Transfer]\nVerify=false\n"))+"SHA256 (evil.raw) = 00\n"))
		}, "line 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, o := bakerySetup(t)
			c.break_(s)
			_, err := fetch.FetchSysext(t.Context(), o, "docker", "docker-28.0.4-x86-64.raw")
			if !errors.Is(err, verify.ErrFailed) || !strings.Contains(err.Error(), "docker") || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("err = %v", err)
			}
			t.Logf("refusal: %v", err)
			noFileNamed(t, o.CacheDir, "docker-28.0.4-x86-64.raw")
			noFileNamed(t, o.CacheDir, "docker.conf")
		})
	}
	_, o := bakerySetup(t)
	if _, err := fetch.FetchSysext(t.Context(), o, "docker", "../etc/passwd"); err == nil {
		t.Fatal("path accepted as a file name")
	}
	if _, err := fetch.FetchSysext(t.Context(), o, "nosuch", "nosuch.raw"); err == nil || !strings.Contains(err.Error(), "nosuch.raw") {
		t.Fatalf("unlisted file: %v", err)
	}
}

func TestFetchSysextTamperedCache(t *testing.T) {
	s, o := bakerySetup(t)
	sx, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sx.RawPath, []byte("changed in the cache"), 0o644)
	o.Offline = true
	if _, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw"); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("offline, tampered cache: %v", err)
	}
	o.Offline = false
	n := s.count()
	if _, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(sx.RawPath); string(got) != "wasmtime sysext" || s.count() == n {
		t.Fatalf("not fetched again: %q", got)
	}
}
