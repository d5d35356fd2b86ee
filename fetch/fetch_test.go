package fetch_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/internal/verify"
	"github.com/bake-os/bake-os/progress"
)

const imageName = "flatcar_production_image.bin.bz2"

func testOptions(t *testing.T, s *fakeServer, k *testKey) fetch.Options {
	return fetch.Options{
		ReleasesJSONURL:    s.url("/releases.json"),
		ReleaseURLTemplate: s.url("/{channel}"),
		BakeryURL:          s.url("/bakery"),
		CacheDir:           t.TempDir(),
		SigningKeyFile:     k.keyFile(t),
		UserAgent:          "bake-os/test",
	}
}

// setup serves stable 100.2.3 (the highest stable in the index) signed by
// a fresh key.
func setup(t *testing.T, imageSize int) (*fakeServer, *testKey, release, fetch.Options) {
	t.Helper()
	s := newFakeServer(t)
	k := newTestKey(t, time.Now().Add(-time.Hour), 0)
	rel := s.publishRelease(k, "stable", "100.2.3", imageSize)
	s.releasesJSON(map[string]string{"100.2.3": "stable", "100.2.10": "lts", "99.2.9": "stable", "101.1.0": "beta"})
	return s, k, rel, testOptions(t, s, k)
}

// noImageIn fails when the cache holds a final or partial image.
func noImageIn(t *testing.T, dir string) { t.Helper(); noFileNamed(t, dir, imageName) }

// noFileNamed fails when the cache holds name or any partial file.
func noFileNamed(t *testing.T, dir, name string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (d.Name() == name || strings.HasSuffix(d.Name(), ".partial")) {
			t.Errorf("refused download left %s", p)
		}
		return nil
	})
}

func checkImage(t *testing.T, img *fetch.Image, rel release) {
	t.Helper()
	got, err := os.ReadFile(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, rel.image) {
		t.Fatalf("cached image differs from the served one")
	}
	if img.Ref.Version != rel.version || img.Version.Version != rel.version || img.Ref.Channel != rel.channel || img.Ref.Board != "amd64-usr" {
		t.Fatalf("image %+v, version %+v", img.Ref, img.Version)
	}
	if filepath.Base(img.VersionTxtPath) != "version.txt" {
		t.Fatalf("version.txt path %s", img.VersionTxtPath)
	}
}

func TestFetchImageHappyPathThenWarmCache(t *testing.T) {
	s, _, rel, o := setup(t, 300<<10)
	rec := &recorder{}
	o.Reporter = rec
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
	if !s.agents["bake-os/test"] || len(s.agents) != 1 {
		t.Errorf("user agents %v", s.agents)
	}
	if total, added := rec.get("downloading " + imageName); total != int64(len(rel.image)) || added != total {
		t.Errorf("progress for the image: total %d, added %d, want %d", total, added, len(rel.image))
	}
	first := s.count()
	if first == 0 {
		t.Fatal("no requests counted")
	}

	// Second identical run: no request at all.
	o.Reporter = nil
	img2, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img2, rel)
	if n := s.count() - first; n != 0 {
		t.Fatalf("second run made %d requests: %v", n, s.requestLog()[first:])
	}

	// Server gone: still works from the cache.
	s.srv.Close()
	img3, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatalf("warm cache with the server stopped: %v", err)
	}
	checkImage(t, img3, rel)
}

func TestFetchReleaseFile(t *testing.T) {
	s, k, rel, o := setup(t, 1000)
	oem := []byte("oem sysext bytes")
	s.publish(k, rel.dir, "oem-qemu.raw", oem)
	s.del(rel.dir + "/oem-qemu.raw.DIGESTS") // DIGESTS are optional
	ref, err := fetch.ResolveRelease(t.Context(), fetch.Options{Release: "100.2.3", ReleaseURLTemplate: o.ReleaseURLTemplate})
	if err != nil {
		t.Fatal(err)
	}
	if ref.BaseURL != s.url("/stable/amd64-usr/100.2.3") {
		t.Fatalf("base URL %s", ref.BaseURL)
	}
	p, err := fetch.FetchReleaseFile(t.Context(), o, ref, "oem-qemu.raw")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, oem) {
		t.Fatal("oem-qemu.raw differs")
	}
	n := s.count()
	if _, err := fetch.FetchReleaseFile(t.Context(), o, ref, "oem-qemu.raw"); err != nil || s.count() != n {
		t.Fatalf("reuse: %v, %d requests", err, s.count()-n)
	}
	_, err = fetch.FetchReleaseFile(t.Context(), o, ref, "oem-azure.raw")
	if !errors.Is(err, fetch.ErrNotFound) || !strings.Contains(err.Error(), "oem-azure.raw") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := fetch.FetchReleaseFile(t.Context(), o, ref, "../x"); err == nil {
		t.Fatal("path accepted as a file name")
	}
}

func TestResolveChannels(t *testing.T) {
	s, _, _, o := setup(t, 10)
	for rel, want := range map[string]string{"stable": "100.2.3", "lts": "100.2.10", "beta": "101.1.0", "": "100.2.3", "7.0.1": "7.0.1"} {
		o.Release = rel
		ref, err := fetch.ResolveRelease(t.Context(), o)
		if err != nil || ref.Version != want {
			t.Errorf("release %q: %+v %v, want %s", rel, ref, err, want)
		}
	}
	// Index cached: one request for it in all.
	n := 0
	for _, l := range s.requestLog() {
		if strings.Contains(l, "releases.json") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("releases.json fetched %d times, want 1", n)
	}
}

func TestResolveFallsBackToCurrent(t *testing.T) {
	s, _, rel, o := setup(t, 1000)
	s.del("/releases.json")
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
	// Both gone and nothing cached for alpha: the error names both sources.
	o.Release = "alpha"
	_, err = fetch.ResolveRelease(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), "releases index") || !strings.Contains(err.Error(), "version.txt") {
		t.Fatalf("err = %v", err)
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(s *fakeServer, k *testKey, rel release)
		file   string
		why    string
	}{
		{"signature by another key", func(s *fakeServer, _ *testKey, rel release) {
			other := newTestKey(t, time.Now().Add(-time.Hour), 0)
			s.publish(other, rel.dir, imageName, rel.image)
		}, imageName, "bad signature"},
		{"tampered image", func(s *fakeServer, _ *testKey, rel release) {
			bad := bytes.Clone(rel.image)
			bad[len(bad)/3] ^= 1
			s.put(rel.dir+"/"+imageName, bad)
		}, imageName, "bad signature"},
		{"tampered version.txt", func(s *fakeServer, _ *testKey, rel release) {
			s.put(rel.dir+"/version.txt", bytes.Replace(versionTxt(rel.version), []byte("FLATCAR_BUILD=100"), []byte("FLATCAR_BUILD=666"), 1))
		}, "version.txt", "bad signature"},
		{"DIGESTS mismatch", func(s *fakeServer, _ *testKey, rel release) {
			s.put(rel.dir+"/"+imageName+".DIGESTS", digests(imageName, []byte("other")))
		}, imageName, "SHA512"},
		{"missing signature", func(s *fakeServer, _ *testKey, rel release) {
			s.del(rel.dir + "/" + imageName + ".sig")
		}, imageName, "no signature"},
		{"version.txt of another release", func(s *fakeServer, k *testKey, rel release) {
			s.publish(k, rel.dir, "version.txt", versionTxt("100.2.2"))
		}, "version.txt", "names 100.2.2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, k, rel, o := setup(t, 64<<10)
			c.break_(s, k, rel)
			_, err := fetch.FetchImage(t.Context(), o)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("refusal: %v", err)
			if !strings.Contains(err.Error(), c.file) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("error %q does not name %s and %q", err, c.file, c.why)
			}
			if c.why != "names 100.2.2" && !errors.Is(err, verify.ErrFailed) {
				t.Errorf("error %v is not verify.ErrFailed", err)
			}
			noImageIn(t, o.CacheDir)
		})
	}
}

func TestTruncatedTransferResumes(t *testing.T) {
	s, _, rel, o := setup(t, 1<<20)
	s.cut[rel.dir+"/"+imageName] = 1
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
	var gets []string
	for _, l := range s.requestLog() {
		if strings.HasPrefix(l, "GET "+rel.dir+"/"+imageName+" ") {
			gets = append(gets, l)
		}
	}
	want := []string{"GET " + rel.dir + "/" + imageName + " ", "GET " + rel.dir + "/" + imageName + " bytes=524288-"}
	if strings.Join(gets, "|") != strings.Join(want, "|") {
		t.Fatalf("image requests %q, want %q", gets, want)
	}
}

func TestServerIgnoringRangeStartsOver(t *testing.T) {
	s, _, rel, o := setup(t, 200<<10)
	s.noRange = true
	s.cut[rel.dir+"/"+imageName] = 1
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
}

func TestPartialFromEarlierRunResumes(t *testing.T) {
	_, _, rel, o := setup(t, 100<<10)
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	// Turn the cached image back into a partial of a third of it.
	if err := os.Rename(img.Path, img.Path+".partial"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img.Path+".partial", int64(len(rel.image)/3)); err != nil {
		t.Fatal(err)
	}
	img, err = fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
}

// A partial left by an earlier run of another upload is detected by the
// signature check and downloaded again from scratch.
func TestStalePartialIsReplaced(t *testing.T) {
	s, _, rel, o := setup(t, 100<<10)
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	stale := bytes.Clone(rel.image[:len(rel.image)/2])
	stale[10] ^= 0xff
	os.Remove(img.Path)
	if err := os.WriteFile(img.Path+".partial", stale, 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(s.requestLog())
	img, err = fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
	var gets []string
	for _, l := range s.requestLog()[n:] {
		if strings.HasPrefix(l, "GET "+rel.dir+"/"+imageName+" ") {
			gets = append(gets, strings.TrimPrefix(l, "GET "+rel.dir+"/"+imageName+" "))
		}
	}
	if strings.Join(gets, "|") != "bytes=51200-|" {
		t.Fatalf("image requests %q, want a resume then a full download", gets)
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	s, _, rel, o := setup(t, 4096)
	s.fail500[rel.dir+"/"+imageName] = 1
	s.fail500["/releases.json"] = 2
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
	if s.fail500[rel.dir+"/"+imageName] != 0 || s.fail500["/releases.json"] != 0 {
		t.Fatal("500s not consumed")
	}
	// A server that keeps failing gives up with the status in the error.
	s2, _, rel2, o2 := setup(t, 10)
	s2.fail500[rel2.dir+"/"+imageName] = 100
	_, err = fetch.FetchImage(t.Context(), o2)
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), imageName) {
		t.Fatalf("persistent 500: %v", err)
	}
}

func TestOfflineColdCache(t *testing.T) {
	s, _, _, o := setup(t, 10)
	o.Offline = true
	o.Release = "100.2.3"
	_, err := fetch.FetchImage(t.Context(), o)
	if !errors.Is(err, fetch.ErrOffline) || !strings.Contains(err.Error(), imageName) || !strings.Contains(err.Error(), "version.txt") {
		t.Fatalf("err = %v", err)
	}
	o.Release = "stable"
	_, err = fetch.FetchImage(t.Context(), o)
	if !errors.Is(err, fetch.ErrOffline) || !strings.Contains(err.Error(), "releases index") {
		t.Fatalf("err = %v", err)
	}
	if _, err := fetch.FetchSysext(t.Context(), o, "docker", "docker.raw"); !errors.Is(err, fetch.ErrOffline) || !strings.Contains(err.Error(), "docker.raw") {
		t.Fatalf("sysext err = %v", err)
	}
	if s.count() != 0 {
		t.Fatalf("offline made %d requests", s.count())
	}
}

func TestOfflineWarmCacheAndTamperedCache(t *testing.T) {
	s, _, rel, o := setup(t, 10000)
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	n := s.count()
	o.Offline = true
	o.IndexMaxAge = time.Nanosecond // offline uses the cached index whatever its age
	if _, err := fetch.FetchImage(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	// Damage the cached image (flip a byte: writing a fixed one can leave
	// it unchanged): offline refuses it, online fetches it again.
	f, _ := os.OpenFile(img.Path, os.O_RDWR, 0)
	b := make([]byte, 1)
	f.ReadAt(b, 5)
	f.WriteAt([]byte{b[0] ^ 0xff}, 5)
	f.Close()
	_, err = fetch.FetchImage(t.Context(), o)
	if !errors.Is(err, verify.ErrFailed) || !strings.Contains(err.Error(), imageName) {
		t.Fatalf("tampered cache offline: %v", err)
	}
	if s.count() != n {
		t.Fatal("offline made requests")
	}
	o.Offline = false
	img, err = fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
}

func TestCachedFilesCheckedWithCurrentKey(t *testing.T) {
	_, _, _, o := setup(t, 1000)
	if _, err := fetch.FetchImage(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	// Same cache, another trusted key: the cached files no longer verify,
	// and the server's copies do not either.
	o.SigningKeyFile = newTestKey(t, time.Now().Add(-time.Hour), 0).keyFile(t)
	_, err := fetch.FetchImage(t.Context(), o)
	if !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	// And the embedded Flatcar key rejects the test release.
	o.SigningKeyFile = ""
	if _, err := fetch.FetchImage(t.Context(), o); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("embedded key: err = %v", err)
	}
}

// recorder is a progress.Reporter that remembers totals and sums.
type recorder struct {
	mu     sync.Mutex
	totals map[string]int64
	added  map[string]int64
}

func (r *recorder) Counter(desc string, total int64) progress.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.totals == nil {
		r.totals, r.added = map[string]int64{}, map[string]int64{}
	}
	r.totals[desc] = total
	return &recCounter{r: r, desc: desc}
}

func (r *recorder) get(desc string) (int64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.totals[desc], r.added[desc]
}

type recCounter struct {
	r    *recorder
	desc string
}

func (c *recCounter) Add(n int64) {
	c.r.mu.Lock()
	c.r.added[c.desc] += n
	c.r.mu.Unlock()
}
func (c *recCounter) Done() {}

func TestMain(m *testing.M) {
	fetch.SetRetryBackoffForTest(time.Millisecond)
	os.Exit(m.Run())
}

func TestStalledTransferResumes(t *testing.T) {
	defer fetch.SetStallTimeoutForTest(200 * time.Millisecond)()
	s, _, rel, o := setup(t, 256<<10)
	s.hang[rel.dir+"/"+imageName] = 1
	img, err := fetch.FetchImage(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, rel)
	var ranges []string
	for _, l := range s.requestLog() {
		if strings.HasPrefix(l, "GET "+rel.dir+"/"+imageName+" ") {
			ranges = append(ranges, strings.TrimPrefix(l, "GET "+rel.dir+"/"+imageName+" "))
		}
	}
	if strings.Join(ranges, "|") != "|bytes=131072-" {
		t.Fatalf("image requests with ranges %q", ranges)
	}
}

func TestConcurrentFetchesShareOneDownload(t *testing.T) {
	s, _, rel, o := setup(t, 512<<10)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			img, err := fetch.FetchImage(t.Context(), o)
			if err == nil && img.Path == "" {
				err = errors.New("no path")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	for _, l := range s.requestLog() {
		if strings.HasPrefix(l, "GET "+rel.dir+"/"+imageName+" ") {
			gets++
		}
	}
	if gets != 1 {
		t.Fatalf("image downloaded %d times", gets)
	}
}
