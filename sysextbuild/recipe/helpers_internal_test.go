package recipe

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// fakeEntry is one member of a fake upstream archive: a file (Body), a
// directory (name ending in /) or a symlink (Link).
type fakeEntry struct {
	Name string
	Mode int64
	Body string
	Link string
}

func fakeBin(name string) string { return "#!/bin/sh\necho fake " + name + "\n" }

func sum256(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func tarOf(t testing.TB, entries []fakeEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, Uid: 1000, Gid: 1000, Uname: "builder"}
		switch {
		case strings.HasSuffix(e.Name, "/"):
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress runs data through a compressor's writer.
func compress(t testing.TB, data []byte, newWriter func(io.Writer) (io.WriteCloser, error)) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := newWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarGz(t testing.TB, entries ...fakeEntry) []byte {
	return compress(t, tarOf(t, entries), func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil })
}

func tarXz(t testing.TB, entries ...fakeEntry) []byte {
	return compress(t, tarOf(t, entries), func(w io.Writer) (io.WriteCloser, error) { return xz.NewWriter(w) })
}

func tarZst(t testing.TB, entries ...fakeEntry) []byte {
	return compress(t, tarOf(t, entries), func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) })
}

func zipOf(t testing.TB, entries ...fakeEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(os.FileMode(mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.Body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mirror is a fake upstream: every https://HOST/PATH is served at
// SERVER/HOST/PATH, reached through one URL rewrite. It records requests
// and their Authorization headers.
type mirror struct {
	srv     *httptest.Server
	mu      sync.Mutex
	files   map[string][]byte            // "host/path" -> body
	headers map[string]map[string]string // "host/path" -> extra response headers
	auth    []string                     // Authorization header of each request
	seen    []string
}

func newMirror(t testing.TB) *mirror {
	m := &mirror{files: map[string][]byte{}, headers: map[string]map[string]string{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/")
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		m.mu.Lock()
		body, ok := m.files[key]
		hdr := m.headers[key]
		m.auth = append(m.auth, r.Header.Get("Authorization"))
		m.seen = append(m.seen, key)
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range hdr {
			w.Header().Set(k, strings.ReplaceAll(v, "{server}", m.srv.URL))
		}
		w.Write(body)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// put serves body at the https URL u.
func (m *mirror) put(u string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[strings.TrimPrefix(u, "https://")] = body
}

// putSum serves body at u and its "hex  name" checksum at sumURL.
func (m *mirror) putWithSum(u string, body []byte, sumURL string) {
	m.put(u, body)
	name := u[strings.LastIndex(u, "/")+1:]
	m.put(sumURL, []byte(sum256(body)+"  "+name+"\n"))
}

func (m *mirror) rewrites() []Rewrite {
	return []Rewrite{{From: "https://", To: m.srv.URL + "/"}}
}

// imageEntry is one line of unsquashfs -lls.
type imageEntry struct {
	Mode, Owner, Link string
}

// listImage parses `unsquashfs -lls` of img: path -> entry.
func listImage(t testing.TB, img string) map[string]imageEntry {
	t.Helper()
	out, err := exec.Command("unsquashfs", "-lls", "-d", "", img).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lls %s: %v\n%s", img, err, out)
	}
	m := map[string]imageEntry{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || len(f[0]) != 10 {
			continue // header lines
		}
		p := strings.TrimPrefix(f[5], "/")
		e := imageEntry{Mode: f[0], Owner: f[1]}
		if len(f) >= 8 && f[6] == "->" {
			e.Link = f[7]
		}
		m[p] = e
	}
	return m
}

func catImage(t testing.TB, img, p string) string {
	t.Helper()
	out, err := exec.Command("unsquashfs", "-cat", img, p).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -cat %s %s: %v\n%s", img, p, err, out)
	}
	return string(out)
}

func walkStatic(t testing.TB, r Recipe, fn func(p string)) {
	t.Helper()
	err := fs.WalkDir(r.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		top := strings.SplitN(p, "/", 2)[0]
		if !d.IsDir() && (top == "usr" || top == "opt") {
			fn(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
