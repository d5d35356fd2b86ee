package fetch_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/internal/verify"
)

const sxName = "big-1.0-x86-64.raw"

// bakeryWith serves /bakery/SHA256SUMS listing sxName as want, and
// /bakery/sxName with raw; it returns Options pointing at it.
func bakeryWith(t *testing.T, want []byte, raw http.HandlerFunc) fetch.Options {
	mux := http.NewServeMux()
	mux.HandleFunc("/bakery/SHA256SUMS", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%x  %s\n", sha256.Sum256(want), sxName)
	})
	mux.HandleFunc("/bakery/"+sxName, raw)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return fetch.Options{BakeryURL: srv.URL + "/bakery", CacheDir: t.TempDir(), UserAgent: "bake-os/test"}
}

// cacheLeftovers lists .partial and .lock files under the cache, and any
// file larger than max bytes.
func cacheLeftovers(t *testing.T, dir string, max int64) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		st, _ := d.Info()
		if strings.HasSuffix(p, ".lock") || strings.HasSuffix(p, ".partial") || st.Size() > max {
			left = append(left, fmt.Sprintf("%s (%d bytes)", p, st.Size()))
		}
		return nil
	})
	return left
}

// TestContentLengthBeyondCapAborts: a server announcing 5 GiB for a
// sysext (cap 4 GiB) is refused before any byte is stored.
func TestContentLengthBeyondCapAborts(t *testing.T) {
	o := bakeryWith(t, []byte("small"), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(int64(5)<<30))
		w.WriteHeader(http.StatusOK)
		w.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	start := time.Now()
	_, err := fetch.FetchSysext(t.Context(), o, "big", sxName)
	if err == nil || !strings.Contains(err.Error(), "at most 4294967296") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v: retried a refusal", time.Since(start))
	}
	if left := cacheLeftovers(t, o.CacheDir, 0); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestEndlessBodyBeyondCapAborts: a body without Content-Length that never
// ends stops at the cap and leaves no partial file.
func TestEndlessBodyBeyondCapAborts(t *testing.T) {
	defer fetch.SetSysextCapForTest(1 << 20)()
	o := bakeryWith(t, []byte("small"), func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("y"), 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	_, err := fetch.FetchSysext(t.Context(), o, "big", sxName)
	if err == nil || !strings.Contains(err.Error(), "more than 1048576 bytes") || !strings.Contains(err.Error(), sxName) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	if left := cacheLeftovers(t, o.CacheDir, 1<<10); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestBodyBeyondContentLengthIsCut: a raw server that announces 100 bytes
// and sends a megabyte; the client stores at most 100 bytes, the checksum
// fails, and nothing is kept.
func TestBodyBeyondContentLengthIsCut(t *testing.T) {
	want := bytes.Repeat([]byte("z"), 100)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if strings.HasSuffix(req.URL.Path, "/SHA256SUMS") {
					body := fmt.Sprintf("%x  %s\n", sha256.Sum256(want), sxName)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
					return
				}
				if strings.HasSuffix(req.URL.Path, ".conf") {
					fmt.Fprintf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n")
				c.Write(bytes.Repeat([]byte("e"), 1<<20))
			}(c)
		}
	}()
	o := fetch.Options{BakeryURL: "http://" + ln.Addr().String() + "/bakery", CacheDir: t.TempDir(), UserAgent: "bake-os/test"}
	_, err = fetch.FetchSysext(t.Context(), o, "big", sxName)
	if !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	if left := cacheLeftovers(t, o.CacheDir, 100); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestSlowDripPastDeadline: a server that keeps sending a byte now and
// then (so the stall timeout never fires) is cut at the overall deadline.
// The partial is kept for a later run to resume, bounded by what arrived.
func TestSlowDripPastDeadline(t *testing.T) {
	want := bytes.Repeat([]byte("d"), 1000)
	o := bakeryWith(t, want, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(want)))
		w.WriteHeader(http.StatusOK)
		for i := range want {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			w.Write(want[i : i+1])
			w.(http.Flusher).Flush()
		}
	})
	o.Timeout = 400 * time.Millisecond
	start := time.Now()
	_, err := fetch.FetchSysext(t.Context(), o, "big", sxName)
	if err == nil || !strings.Contains(err.Error(), "not complete within 400ms") || errors.Is(err, verify.ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("deadline of 400ms ended the download after %v", d)
	}
	var partials []string
	filepath.WalkDir(o.CacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".lock") {
			t.Errorf("lock file left: %s", p)
		}
		if err == nil && strings.HasSuffix(p, ".partial") {
			partials = append(partials, p)
			if st, _ := d.Info(); st.Size() > int64(len(want)) {
				t.Errorf("partial holds %d bytes", st.Size())
			}
		}
		return nil
	})
	if len(partials) != 1 {
		t.Errorf("partials: %v (want one, resumable)", partials)
	}
}

// TestNoLockFilesAndOneURL: failed and successful downloads leave no
// .lock file; a network error names its URL once.
func TestNoLockFilesAndOneURL(t *testing.T) {
	s, o := bakerySetup(t)
	if _, err := fetch.FetchSysext(t.Context(), o, "docker", "docker-28.0.4-x86-64.raw"); err != nil {
		t.Fatal(err)
	}
	s.put("/bakery/wasmtime-1.0-x86-64.raw", []byte("tampered"))
	if _, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw"); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("tampered: %v", err)
	}
	s.srv.Close()
	_, err := fetch.FetchSysext(t.Context(), o, "wasmtime", "wasmtime-1.0-x86-64.raw")
	if err == nil {
		t.Fatal("server gone, no error")
	}
	t.Log(err)
	if n := strings.Count(err.Error(), s.url("/bakery/SHA256SUMS")); n != 1 {
		t.Errorf("URL named %d times: %v", n, err)
	}
	filepath.WalkDir(o.CacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".lock") {
			t.Errorf("lock file left: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(o.CacheDir); err != nil {
		t.Fatal(err)
	}
}
