package recipe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// K8sScheduleURL is the Kubernetes release schedule used by the kubernetes
// recipe and by --latest of k3s and rke2.
const K8sScheduleURL = "https://raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml"

// ListOptions configure ListVersions.
type ListOptions struct {
	// Latest lists only what `--latest` builds: usually the newest
	// version; one per minor line for some recipes.
	Latest bool
	// URLRewrites apply to every request (API mirrors, tests).
	URLRewrites []Rewrite
	// HTTPClient defaults to httpget's client (connect, TLS and header timeouts).
	HTTPClient *http.Client
	// GitHubToken is sent as a Bearer token to api.github.com; empty means
	// $GH_TOKEN.
	GitHubToken string
}

// ListVersions lists the recipe's upstream versions newest first, spelled
// as `sysext create` expects them.
func ListVersions(ctx context.Context, recipe string, o ListOptions) ([]string, error) {
	r, err := Lookup(recipe)
	if err != nil {
		return nil, err
	}
	if o.GitHubToken == "" {
		o.GitHubToken = os.Getenv("GH_TOKEN")
	}
	f := &fetcher{http: o.HTTPClient, rewrites: o.URLRewrites, token: o.GitHubToken}
	src := r.Versions
	if src.Kind == "none" {
		return nil, fmt.Errorf("recipe %s has no upstream version list", r.Name)
	}
	if o.Latest && src.Kind == "k8s-schedule" {
		return k8sVersions(ctx, f, true)
	}
	vs, err := listSource(ctx, f, src)
	if err != nil {
		return nil, fmt.Errorf("listing %s versions: %w", r.Name, err)
	}
	if !o.Latest || len(vs) == 0 {
		return vs, nil
	}
	switch {
	case src.Latest == "k8s-minors":
		k8s, err := k8sVersions(ctx, f, true)
		if err != nil {
			return nil, fmt.Errorf("listing %s versions: %w", r.Name, err)
		}
		var out []string
		for _, k := range k8s {
			for _, v := range vs { // newest first
				if strings.Contains(v, k+"+") {
					out = append(out, v)
					break
				}
			}
		}
		return out, nil
	case strings.HasPrefix(src.Latest, "per-minor:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(src.Latest, "per-minor:"))
		var out []string
		seen := map[string]bool{}
		for _, v := range vs {
			m := minorOf(v)
			if seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, v)
			if len(out) == n {
				break
			}
		}
		return out, nil
	}
	return vs[:1], nil
}

// latestVersion is the newest version of a source (option "latest").
func latestVersion(ctx context.Context, f *fetcher, src VersionSource) (string, error) {
	if src.Kind == "github-releases" && src.Include == "" && src.Exclude == "" && !src.StripV {
		data, _, err := f.getSmall(ctx, "https://api.github.com/repos/"+src.Repo+"/releases/latest")
		if err != nil {
			return "", err
		}
		var rel struct {
			TagName string `json:"tag_name"`
		}
		if err := json.Unmarshal(data, &rel); err != nil || rel.TagName == "" {
			return "", fmt.Errorf("decoding latest release of %s: no tag_name", src.Repo)
		}
		return rel.TagName, nil
	}
	vs, err := listSource(ctx, f, src)
	if err != nil {
		return "", err
	}
	if len(vs) == 0 {
		return "", fmt.Errorf("no versions found")
	}
	return vs[0], nil
}

func listSource(ctx context.Context, f *fetcher, src VersionSource) ([]string, error) {
	var vs []string
	var err error
	switch src.Kind {
	case "github-releases":
		vs, err = githubList(ctx, f, "https://api.github.com/repos/"+src.Repo+"/releases?per_page=100", "tag_name")
	case "github-tags":
		vs, err = githubList(ctx, f, "https://api.github.com/repos/"+src.Repo+"/tags?per_page=100", "name")
	case "gitlab-tags":
		vs, err = gitlabTags(ctx, f, src.URL)
	case "html-index":
		vs, err = htmlIndex(ctx, f, src.URL, src.Pattern)
	case "hashicorp":
		vs, err = hashicorp(ctx, f, src.URL)
	case "haproxy":
		vs, err = haproxyVersions(ctx, f, src.URL, src.Min)
	case "k8s-schedule":
		vs, err = k8sVersions(ctx, f, false)
	default:
		return nil, fmt.Errorf("unknown version source %q", src.Kind)
	}
	if err != nil {
		return nil, err
	}
	inc := regexp.MustCompile(src.Include)
	exc := regexp.MustCompile(src.Exclude)
	var out []string
	seen := map[string]bool{}
	for _, v := range vs {
		if !inc.MatchString(v) || (src.Exclude != "" && exc.MatchString(v)) {
			continue
		}
		if src.StripV {
			v = strings.TrimPrefix(v, "v")
		}
		if src.Min != "" && compareVersions(v, src.Min) < 0 {
			continue
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	if !src.Unsorted {
		sort.SliceStable(out, func(i, j int) bool { return compareVersions(out[i], out[j]) > 0 })
	}
	return out, nil
}

var linkNextRe = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="next"`)

// githubList pages through a GitHub list API following Link rel="next",
// keeping field of every item that is neither a draft nor a prerelease.
func githubList(ctx context.Context, f *fetcher, u, field string) ([]string, error) {
	var out []string
	for page := 0; u != "" && page < 100; page++ {
		data, h, err := f.getSmall(ctx, u)
		if err != nil {
			return nil, err
		}
		var items []map[string]any
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", u, err)
		}
		for _, it := range items {
			if b, _ := it["prerelease"].(bool); b {
				continue
			}
			if b, _ := it["draft"].(bool); b {
				continue
			}
			if s, _ := it[field].(string); s != "" {
				out = append(out, s)
			}
		}
		u = ""
		if m := linkNextRe.FindStringSubmatch(h.Get("Link")); m != nil {
			u = m[1]
		}
	}
	return out, nil
}

func gitlabTags(ctx context.Context, f *fetcher, base string) ([]string, error) {
	u := strings.TrimSuffix(base, "/") + "/repository/tags?per_page=100"
	data, _, err := f.getSmall(ctx, u)
	if err != nil {
		return nil, err
	}
	var items []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", u, err)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out, nil
}

func htmlIndex(ctx context.Context, f *fetcher, u, pattern string) ([]string, error) {
	data, _, err := f.getSmall(ctx, u)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	return out, nil
}

// hashicorp reads the HashiCorp releases API, paging with after= while
// pages are full (at most 20 pages).
func hashicorp(ctx context.Context, f *fetcher, base string) ([]string, error) {
	limit := 0
	if pu, err := url.Parse(base); err == nil {
		limit, _ = strconv.Atoi(pu.Query().Get("limit"))
	}
	var out []string
	u := base
	for page := 0; page < 20; page++ {
		data, _, err := f.getSmall(ctx, u)
		if err != nil {
			return nil, err
		}
		var items []struct {
			Version      string `json:"version"`
			IsPrerelease bool   `json:"is_prerelease"`
			LicenseClass string `json:"license_class"`
			Created      string `json:"timestamp_created"`
		}
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", u, err)
		}
		for _, it := range items {
			if !it.IsPrerelease && (it.LicenseClass == "" || it.LicenseClass == "oss") {
				out = append(out, it.Version)
			}
		}
		if limit == 0 || len(items) < limit {
			break
		}
		sep := "&"
		if !strings.Contains(base, "?") {
			sep = "?"
		}
		u = base + sep + "after=" + url.QueryEscape(items[len(items)-1].Created)
	}
	return out, nil
}

var haproxyBranchRe = regexp.MustCompile(`href="([0-9]+\.[0-9]+)/"`)

// haproxyVersions lists the branches of the download index (those >= min)
// and the releases of each from its src/releases.json, without -dev and
// -rc versions.
func haproxyVersions(ctx context.Context, f *fetcher, base, min string) ([]string, error) {
	base = strings.TrimSuffix(base, "/") + "/"
	data, _, err := f.getSmall(ctx, base)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range haproxyBranchRe.FindAllStringSubmatch(string(data), -1) {
		branch := m[1]
		if seen[branch] || (min != "" && compareVersions(branch, min) < 0) {
			continue
		}
		seen[branch] = true
		u := base + branch + "/src/releases.json"
		rj, _, err := f.getSmall(ctx, u)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Releases map[string]json.RawMessage `json:"releases"`
		}
		if err := json.Unmarshal(rj, &doc); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", u, err)
		}
		for v := range doc.Releases {
			if !strings.Contains(v, "-dev") && !strings.Contains(v, "-rc") {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// k8sVersions reads the Kubernetes schedule: every patch of every
// supported minor, or (latest) the newest patch of each, with a "v".
func k8sVersions(ctx context.Context, f *fetcher, latest bool) ([]string, error) {
	data, _, err := f.getSmall(ctx, K8sScheduleURL)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Schedules []struct {
			Release         string `yaml:"release"`
			PreviousPatches []struct {
				Release string `yaml:"release"`
			} `yaml:"previousPatches"`
		} `yaml:"schedules"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding Kubernetes schedule: %w", err)
	}
	var out []string
	for _, s := range doc.Schedules {
		if len(s.PreviousPatches) == 0 {
			out = append(out, "v"+s.Release+".0")
			continue
		}
		for i, p := range s.PreviousPatches {
			out = append(out, "v"+p.Release)
			if latest && i == 0 {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the Kubernetes schedule lists no releases")
	}
	sort.SliceStable(out, func(i, j int) bool { return compareVersions(out[i], out[j]) > 0 })
	return out, nil
}

var versionRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*([-+~.][0-9A-Za-z.+~-]*)?$`)

// minorOf is "X.Y" of a version (leading v ignored).
func minorOf(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return parts[0]
	}
	return parts[0] + "." + parts[1]
}

// compareVersions orders like `sort -V` on the common cases: a leading v
// is ignored, digit runs compare numerically and other runs bytewise.
func compareVersions(a, b string) int {
	a, b = strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v")
	for a != "" && b != "" {
		ca, ra := chunk(a)
		cb, rb := chunk(b)
		da, db := isDigit(ca[0]), isDigit(cb[0])
		switch {
		case da && db:
			na, nb := strings.TrimLeft(ca, "0"), strings.TrimLeft(cb, "0")
			if len(na) != len(nb) {
				return cmpInt(len(na), len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
		case da != db:
			if da {
				return 1
			}
			return -1
		default:
			if c := strings.Compare(ca, cb); c != 0 {
				return c
			}
		}
		a, b = ra, rb
	}
	return cmpInt(len(a), len(b))
}

func chunk(s string) (string, string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Latest resolves "latest" with ListVersions (o.Latest is set), for
// sysextbuild.ReleaseOptions.
func Latest(o ListOptions) func(ctx context.Context, recipe string) ([]string, error) {
	o.Latest = true
	return func(ctx context.Context, recipe string) ([]string, error) {
		return ListVersions(ctx, recipe, o)
	}
}
