package recipe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestListVersionsGitHubPagination(t *testing.T) {
	m := newMirror(t)
	page1 := []map[string]any{
		{"tag_name": "v24.0.0", "prerelease": false},
		{"tag_name": "v25.0.0-rc1", "prerelease": true},
		{"tag_name": "v9.0.0", "prerelease": false},
	}
	page2 := []map[string]any{
		{"tag_name": "v24.0.1", "prerelease": false},
		{"tag_name": "v10.0.2", "prerelease": false},
		{"tag_name": "dev", "prerelease": false, "draft": true},
	}
	first := "api.github.com/repos/bytecodealliance/wasmtime/releases?per_page=100"
	m.files[first] = jsonOf(page1)
	m.headers[first] = map[string]string{
		"Link": `<https://api.github.com/repositories/1/releases?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/releases?per_page=100&page=2>; rel="last"`,
	}
	m.files["api.github.com/repositories/1/releases?per_page=100&page=2"] = jsonOf(page2)

	o := ListOptions{URLRewrites: m.rewrites(), GitHubToken: "s3cret"}
	got, err := ListVersions(context.Background(), "wasmtime", o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v24.0.1", "v24.0.0", "v10.0.2", "v9.0.0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("versions %v, want %v", got, want)
	}
	if len(m.auth) != 2 || m.auth[0] != "Bearer s3cret" || m.auth[1] != "Bearer s3cret" {
		t.Errorf("Authorization headers %q, want Bearer s3cret on both pages", m.auth)
	}
	o.Latest = true
	got, err = ListVersions(context.Background(), "wasmtime", o)
	if err != nil || !reflect.DeepEqual(got, []string{"v24.0.1"}) {
		t.Errorf("--latest: %v %v, want [v24.0.1]", got, err)
	}

	// GH_TOKEN from the environment when no token is given.
	t.Setenv("GH_TOKEN", "from-env")
	m.auth = nil
	if _, err := ListVersions(context.Background(), "wasmtime", ListOptions{URLRewrites: m.rewrites()}); err != nil {
		t.Fatal(err)
	}
	if len(m.auth) == 0 || m.auth[0] != "Bearer from-env" {
		t.Errorf("Authorization %q, want Bearer from-env", m.auth)
	}
}

func TestListVersionsSources(t *testing.T) {
	m := newMirror(t)
	m.put("https://download.docker.com/linux/static/stable/x86_64/",
		[]byte(`<a href="docker-26.1.4.tgz">docker-26.1.4.tgz</a> <a href="docker-27.3.1.tgz">x</a> <a href="docker-rootless-extras-27.3.1.tgz">y</a> <a href="docker-9.0.0.tgz">`))
	m.put(K8sScheduleURL, []byte(`schedules:
- release: "1.32"
  next:
    release: 1.32.3
  previousPatches:
  - release: 1.32.2
  - release: 1.32.1
  - release: 1.32.0
- release: "1.31"
  previousPatches:
  - release: 1.31.6
- release: "1.33"
upcoming_releases: []
`))
	m.put("https://api.github.com/repos/k3s-io/k3s/releases?per_page=100", jsonOf([]map[string]any{
		{"tag_name": "v1.32.1+k3s1"}, {"tag_name": "v1.32.2+k3s1"}, {"tag_name": "v1.32.2+k3s2"},
		{"tag_name": "v1.31.6+k3s1"}, {"tag_name": "v1.30.1+k3s1"}, {"tag_name": "v1.33.0-rc1+k3s1", "prerelease": true},
	}))
	m.put("https://api.github.com/repos/docker/compose/releases?per_page=100", jsonOf([]map[string]any{
		{"tag_name": "v2.24.5"}, {"tag_name": "v2.29.0"},
	}))
	m.put("https://api.github.com/repos/acassen/keepalived/tags?per_page=100", jsonOf([]map[string]any{
		{"name": "v2.2.8"}, {"name": "v2.3.1"},
	}))
	m.put("https://api.github.com/repos/wasmcloud/wasmcloud/releases?per_page=100", jsonOf([]map[string]any{
		{"tag_name": "v1.2.1"}, {"tag_name": "wash-cli-v0.30.0"}, {"tag_name": "v1.10.0"},
	}))
	for _, c := range []struct {
		recipe string
		latest bool
		want   []string
	}{
		{"docker", false, []string{"27.3.1", "26.1.4", "9.0.0"}},
		{"kubernetes", false, []string{"v1.33.0", "v1.32.2", "v1.32.1", "v1.32.0", "v1.31.6"}},
		{"kubernetes", true, []string{"v1.33.0", "v1.32.2", "v1.31.6"}},
		{"k3s", true, []string{"v1.32.2+k3s2", "v1.31.6+k3s1"}},
		{"docker_compose", false, []string{"2.29.0", "2.24.5"}},
		{"keepalived", true, []string{"v2.3.1"}},
		{"wasmcloud", false, []string{"v1.10.0", "v1.2.1"}},
	} {
		got, err := ListVersions(context.Background(), c.recipe, ListOptions{URLRewrites: m.rewrites(), Latest: c.latest, GitHubToken: "x"})
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s latest=%v: %v %v, want %v", c.recipe, c.latest, got, err, c.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	in := []string{"v1.10.0", "1.9.2", "v1.32.2+k3s1", "v1.32.2+k3s10", "v1.32.2+k3s2", "2.0", "1.9.10"}
	want := []string{"2.0", "v1.32.2+k3s10", "v1.32.2+k3s2", "v1.32.2+k3s1", "v1.10.0", "1.9.10", "1.9.2"}
	got := append([]string(nil), in...)
	sortDesc(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
}

func sortDesc(vs []string) {
	for i := range vs {
		for j := i + 1; j < len(vs); j++ {
			if compareVersions(vs[j], vs[i]) > 0 {
				vs[i], vs[j] = vs[j], vs[i]
			}
		}
	}
}

func TestURLRewrites(t *testing.T) {
	rws, err := RewritesFromFlags([]string{"https://github.com/=http://m/gh/"}, func(k string) string {
		if k == URLRewriteEnv {
			return "https://=http://m/all/, https://dl.k8s.io/=http://m/k8s/"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"https://github.com/a/b":       "http://m/gh/a/b",
		"https://dl.k8s.io/v1/kubelet": "http://m/k8s/v1/kubelet",
		"https://example.org/x":        "http://m/all/example.org/x",
		"http://plain/x":               "http://plain/x",
	} {
		if got := RewriteURL(in, rws); got != want {
			t.Errorf("RewriteURL(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := ParseRewrites("nonsense"); err == nil || !strings.Contains(err.Error(), "use FROM=TO") {
		t.Errorf("want a FROM=TO error, got %v", err)
	}
}

func TestRecipeDecodingIsStrict(t *testing.T) {
	fsys := fstest.MapFS{
		"recipes/a.json": {Data: []byte(`{"name": "a", "description": "x", "kind": "bin", "arch": {"x86-64": "amd64", "arm64": "arm64"},
			"versions": {"kind": "github-releases", "repo": "o/r"}, "downloads": [{"url": "https://x/{version}", "format": "raw", "dest": "usr/bin/a"}],
			"reloda": true}`)},
		"recipes/b.json": {Data: []byte(`{"name": "b", "description": "", "kind": "src", "arch": {"x86-64": "amd64", "arm65": "arm64"},
			"versions": {"kind": "gitlab", "repo": "o/r"},
			"downloads": [{"url": "ftp://x/{versoin}", "format": "rar", "dest": "etc/b", "mode": "999"},
			              {"url": "https://x/", "format": "tar.gz", "members": [{"src": "a", "dest": "usr/sbin/a"}], "when": {"option": "nope"}}]}`)},
		"recipes/c.json": {Data: []byte(`{"name": "wrong", "description": "c", "kind": "bin", "arch": {"x86-64": "amd64", "arm64": "arm64"},
			"versions": {"kind": "none"}, "downloads": [{"url": "https://x/", "format": "raw", "dest": "usr/bin/c"}]}`)},
	}
	_, err := decodeRecipes(fsys, fstest.MapFS{})
	if err == nil {
		t.Fatal("invalid recipes accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`recipes/a.json: decoding: json: unknown field "reloda"`,
		`recipes/b.json: description: missing`,
		`recipes/b.json: kind: "src" is not bin or ctr`,
		`recipes/b.json: arch: missing the upstream spelling for arm64`,
		`recipes/b.json: arch: "arm65" is not x86-64 or arm64`,
		`recipes/b.json: versions.kind: "gitlab" is not one of`,
		`recipes/b.json: downloads[0].url: unknown placeholder {versoin}`,
		`recipes/b.json: downloads[0].url: "ftp://x/{versoin}" is not an http(s) URL`,
		`recipes/b.json: downloads[0].format: "rar" is not one of`,
		`recipes/b.json: downloads[0].dest: "etc/b" is outside usr/ and opt/`,
		`recipes/b.json: downloads[0].mode: mode "999" is not an octal permission`,
		`recipes/b.json: downloads[1].members[0].dest: "usr/sbin/a" is under usr/sbin`,
		`recipes/b.json: downloads[1].when.option: unknown option "nope"`,
		`recipes/c.json: name: "wrong" does not match the file name "c"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestBuiltinRecipesValid(t *testing.T) {
	rs, err := decodeRecipes(recipeFS, staticFS)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range rs {
		names[r.Name] = true
		for _, a := range r.Aliases {
			names[a] = true
		}
	}
	for _, n := range []string{"kubernetes", "docker", "docker_compose", "docker-compose", "nvidia-runtime", "nvidia_runtime",
		"wasmtime", "wasmcloud", "tailscale", "crio", "k3s", "rke2", "keepalived", "ollama"} {
		if !names[n] {
			t.Errorf("seed recipe %s missing", n)
		}
	}
	var buf strings.Builder
	if err := WriteTable(&buf, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "docker-compose (docker_compose)") || !strings.Contains(buf.String(), "x86-64=x86_64,arm64=aarch64") {
		t.Errorf("table:\n%s", buf.String())
	}
	_ = errors.New
}

func TestListVersionsOtherSources(t *testing.T) {
	m := newMirror(t)
	m.put("https://gitlab.nic.cz/api/v4/projects/6/repository/tags?per_page=100", jsonOf([]map[string]string{
		{"name": "v2.15.1"}, {"name": "v3.1.2"}, {"name": "v3.0.0"},
	}))
	m.put("https://gitlab.com/api/v4/projects/39973492/repository/tags?per_page=100", jsonOf([]map[string]string{
		{"name": "4.6"}, {"name": "4.7-pre1"}, {"name": "4.6.1"},
	}))
	m.put("https://www.haproxy.org/download/", []byte(`<a href="2.8/">2.8/</a> <a href="3.0/">3.0/</a> <a href="3.1/">3.1/</a>`))
	m.put("https://www.haproxy.org/download/3.0/src/releases.json", []byte(`{"branch":"3.0","releases":{"3.0.0":{},"3.0.7":{},"3.0-dev12":{}}}`))
	m.put("https://www.haproxy.org/download/3.1/src/releases.json", []byte(`{"releases":{"3.1.1":{},"3.1-rc1":{}}}`))
	m.put("https://api.releases.hashicorp.com/v1/releases/consul?limit=20", jsonOf([]map[string]any{
		{"version": "1.20.1", "license_class": "oss"}, {"version": "1.20.1+ent", "license_class": "enterprise"},
		{"version": "1.21.0-rc1", "license_class": "oss", "is_prerelease": true}, {"version": "1.19.2", "license_class": "oss"},
	}))
	page := func(from, n int) []map[string]any {
		var out []map[string]any
		for i := 0; i < n; i++ {
			out = append(out, map[string]any{"version": fmt.Sprintf("1.%d.0", from-i), "license_class": "oss", "timestamp_created": fmt.Sprintf("t%d", from-i)})
		}
		return out
	}
	m.put("https://api.releases.hashicorp.com/v1/releases/vault?limit=20", jsonOf(page(40, 20)))
	m.put("https://api.releases.hashicorp.com/v1/releases/vault?limit=20&after=t21", jsonOf(page(20, 3)))
	for _, c := range []struct {
		recipe string
		want   []string
	}{
		{"bird", []string{"3.1.2", "3.0.0", "2.15.1"}},
		{"chrony", []string{"4.6.1", "4.6"}},
		{"haproxy", []string{"3.1.1", "3.0.7", "3.0.0"}},
		{"consul", []string{"1.20.1", "1.19.2"}},
	} {
		got, err := ListVersions(context.Background(), c.recipe, ListOptions{URLRewrites: m.rewrites(), GitHubToken: "x"})
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.recipe, got, err, c.want)
		}
	}
	got, err := ListVersions(context.Background(), "vault", ListOptions{URLRewrites: m.rewrites()})
	if err != nil || len(got) != 23 || got[0] != "1.40.0" || got[22] != "1.18.0" {
		t.Errorf("vault: %v %v, want 23 versions 1.40.0 ... 1.18.0 in API order", got, err)
	}
}

func TestFetchRetriesTransientErrors(t *testing.T) {
	old := retryBackoff
	retryBackoff = time.Millisecond
	t.Cleanup(func() { retryBackoff = old })
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch {
		case strings.HasSuffix(r.URL.Path, "/flaky") && calls == 1:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case strings.HasSuffix(r.URL.Path, "/flaky"):
			w.Write([]byte("ok"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := &fetcher{rewrites: []Rewrite{{From: "https://", To: srv.URL + "/"}}}
	data, _, err := f.getSmall(context.Background(), "https://x/flaky")
	if err != nil || string(data) != "ok" || calls != 2 {
		t.Errorf("flaky: %q %v after %d calls", data, err, calls)
	}
	calls = 0
	_, _, err = f.getSmall(context.Background(), "https://x/missing")
	if err == nil || !strings.Contains(err.Error(), "404") || calls != 1 {
		t.Errorf("404 must fail at once: %v after %d calls", err, calls)
	}
}
