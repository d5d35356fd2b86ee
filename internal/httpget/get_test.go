package httpget_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/httpget"
)

// TestSmallRetriesHeadersAndCaps: a 503 is retried, a 404 is not, the
// Header hook and User-Agent reach the server, the Link header comes back,
// and a body over the cap is refused.
func TestSmallRetriesHeadersAndCaps(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/flaky":
			if n == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Link", `<x>; rel="next"`)
			w.Write([]byte(r.Header.Get("User-Agent") + " " + r.Header.Get("Authorization")))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 200)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := &httpget.Client{UserAgent: "ua-test", Backoff: time.Millisecond,
		Header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer t") }}
	ctx := context.Background()

	data, h, err := c.SmallHeader(ctx, srv.URL+"/flaky", 1<<20)
	if err != nil || string(data) != "ua-test Bearer t" || h.Get("Link") == "" || calls.Load() != 2 {
		t.Errorf("flaky: %q %v link=%q after %d calls", data, err, h.Get("Link"), calls.Load())
	}
	calls.Store(0)
	if _, err := c.Small(ctx, srv.URL+"/missing", 1<<20); !errors.Is(err, httpget.ErrNotFound) || calls.Load() != 1 {
		t.Errorf("404: %v after %d calls, want ErrNotFound at once", err, calls.Load())
	}
	if _, err := c.Small(ctx, srv.URL+"/big", 100); !errors.Is(err, httpget.ErrTooLarge) {
		t.Errorf("200 bytes under a 100-byte cap: %v, want ErrTooLarge", err)
	}
}

// TestDownloadResumes: a body cut short is resumed with a Range request
// and the file ends whole; a file over its cap is removed.
func TestDownloadResumes(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges = append(ranges, r.Header.Get("Range"))
		if len(ranges) == 1 {
			// Announce the whole body, send half, hang up.
			w.Header().Set("Content-Length", "10000")
			w.Write([]byte(body[:5000]))
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, _ := hj.Hijack()
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "f", time.Time{}, strings.NewReader(body))
	}))
	defer srv.Close()
	c := &httpget.Client{Backoff: time.Millisecond}
	dst := filepath.Join(t.TempDir(), "f")
	if err := c.Download(context.Background(), srv.URL+"/f", dst, "f", 1<<20); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if string(got) != body || len(ranges) != 2 || ranges[1] != "bytes=5000-" {
		t.Errorf("got %d bytes, requests with Range %q", len(got), ranges)
	}
	small := filepath.Join(t.TempDir(), "g")
	if err := c.Download(context.Background(), srv.URL+"/f", small, "g", 100); !errors.Is(err, httpget.ErrTooLarge) {
		t.Errorf("over the cap: %v", err)
	}
	if _, err := os.Stat(small); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file of a too-large download kept: %v", err)
	}
}
