package fetch_test

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer serves a generated Flatcar release tree and bakery on
// 127.0.0.1. It counts requests and can fail or cut responses on demand.
type fakeServer struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	files    map[string][]byte
	fail500  map[string]int // path -> remaining 500 answers
	cut      map[string]int // path -> remaining bodies cut in half
	hang     map[string]int // path -> remaining bodies that stop half-way
	noRange  bool           // answer 200 with the whole body to Range requests
	requests int
	log      []string // "METHOD path range"
	agents   map[string]bool
}

func newFakeServer(t testing.TB) *fakeServer {
	s := &fakeServer{t: t, files: map[string][]byte{}, fail500: map[string]int{}, cut: map[string]int{}, hang: map[string]int{}, agents: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.log = append(s.log, r.Method+" "+r.URL.Path+" "+r.Header.Get("Range"))
	s.agents[r.Header.Get("User-Agent")] = true
	data, ok := s.files[r.URL.Path]
	fail := s.fail500[r.URL.Path] > 0
	if fail {
		s.fail500[r.URL.Path]--
	}
	cut := ok && !fail && r.Method == http.MethodGet && s.cut[r.URL.Path] > 0
	if cut {
		s.cut[r.URL.Path]--
	}
	hang := ok && !fail && !cut && r.Method == http.MethodGet && s.hang[r.URL.Path] > 0
	if hang {
		s.hang[r.URL.Path]--
	}
	noRange := s.noRange
	s.mu.Unlock()
	switch {
	case hang:
		// Send half, then nothing until the client gives up.
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case fail:
		http.Error(w, "boom", http.StatusInternalServerError)
	case !ok:
		http.NotFound(w, r)
	case cut:
		// Promise the whole body, send half, drop the connection.
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	default:
		if noRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, path.Base(r.URL.Path), time.Time{}, bytes.NewReader(data))
	}
}

func (s *fakeServer) put(p string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[p] = data
}

func (s *fakeServer) del(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, p)
}

func (s *fakeServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *fakeServer) requestLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *fakeServer) url(p string) string { return s.srv.URL + p }

// publish puts name, name.sig (signed by k) and name.DIGESTS under dir.
func (s *fakeServer) publish(k *testKey, dir, name string, data []byte) {
	s.put(dir+"/"+name, data)
	s.put(dir+"/"+name+".sig", k.sign(s.t, data))
	s.put(dir+"/"+name+".DIGESTS", digests(name, data))
}

func digests(name string, data []byte) []byte {
	m, s1, s5 := md5.Sum(data), sha1.Sum(data), sha512.Sum512(data)
	return []byte(fmt.Sprintf("# MD5 HASH\n%x  %s\n# SHA1 HASH\n%x  %s\n# SHA512 HASH\n%x  %s\n", m, name, s1, name, s5, name))
}

func versionTxt(v string) []byte {
	parts := strings.Split(v, ".")
	return []byte(fmt.Sprintf("FLATCAR_BUILD=%s\nFLATCAR_BRANCH=%s\nFLATCAR_PATCH=%s\nFLATCAR_VERSION=%s\nFLATCAR_VERSION_ID=%s\nFLATCAR_BUILD_ID=\"\"\nFLATCAR_SDK_VERSION=%s.0.0\n",
		parts[0], parts[1], parts[2], v, v, parts[0]))
}

// release is a generated release: its image bytes and where it lives.
type release struct {
	version, channel string
	image            []byte
	dir              string // /{channel}/amd64-usr/{version}
}

// publishRelease serves an amd64 release of version in channel: image,
// version.txt, their .sig and .DIGESTS, and current/version.txt.
func (s *fakeServer) publishRelease(k *testKey, channel, version string, imageSize int) release {
	img := make([]byte, imageSize)
	rand.Read(img)
	dir := "/" + channel + "/amd64-usr/" + version
	s.publish(k, dir, "flatcar_production_image.bin.bz2", img)
	s.publish(k, dir, "version.txt", versionTxt(version))
	s.publish(k, "/"+channel+"/amd64-usr/current", "version.txt", versionTxt(version))
	return release{version: version, channel: channel, image: img, dir: dir}
}

// releasesJSON serves an index with the given version -> channel entries
// plus a non-version key.
func (s *fakeServer) releasesJSON(entries map[string]string) {
	var b strings.Builder
	b.WriteString(`{"current-2099":{"channel":"stable","architectures":["amd64","arm64"]}`)
	for v, ch := range entries {
		fmt.Fprintf(&b, `,%q:{"channel":%q,"architectures":["amd64","arm64"],"release_date":"2026-01-01T00:00:00Z"}`, v, ch)
	}
	b.WriteString("}")
	s.put("/releases.json", []byte(b.String()))
}

func sha256Line(name string, data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]) + "  " + name + "\n"
}

// bakery serves sysexts under /bakery with a SHA256SUMS listing them.
func (s *fakeServer) bakery(files map[string][]byte) {
	var sums strings.Builder
	for name, data := range files {
		s.put("/bakery/"+name, data)
		h := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h[:]), name)
	}
	s.put("/bakery/SHA256SUMS", []byte(sums.String()))
}
