package recipe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/internal/httpget"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/internal/verify"
	"github.com/bake-os/bake-os/progress"
)

// fetcher performs rewritten HTTP requests for recipes and version lists
// through the one HTTP getter (internal/httpget).
type fetcher struct {
	http     *http.Client
	rewrites []Rewrite
	token    string // GitHub token, sent to api.github.com URLs
	reporter progress.Reporter
}

// Size caps of what a recipe fetches: pages and checksum files, artefacts.
const (
	maxSmallBody = 64 << 20
	maxArtefact  = 4 << 30
)

// retryBackoff is the first wait between tries; tests shorten it.
var retryBackoff = httpget.DefaultBackoff

// client is the getter for the logical URL u: the token goes with GitHub
// API requests, wherever a rewrite sends them.
func (f *fetcher) client(u string) *httpget.Client {
	c := &httpget.Client{HTTP: f.http, Reporter: f.reporter, Backoff: retryBackoff}
	if f.token != "" && strings.HasPrefix(u, "https://api.github.com/") {
		c.Header = func(req *http.Request) {
			req.Header.Set("Authorization", "Bearer "+f.token)
			req.Header.Set("Accept", "application/vnd.github+json")
		}
	}
	return c
}

// via names the mirror a rewrite sent u to, for error messages.
func via(u, target string, err error) error {
	if u == target {
		return err
	}
	return fmt.Errorf("%s (rewritten): %w", u, err)
}

// getSmall reads a small response body (checksum files, API pages).
func (f *fetcher) getSmall(ctx context.Context, u string) ([]byte, http.Header, error) {
	target := RewriteURL(u, f.rewrites)
	data, h, err := f.client(u).SmallHeader(ctx, target, maxSmallBody)
	if err != nil {
		return nil, nil, via(u, target, err)
	}
	return data, h, nil
}

// download saves u into dir under its base name and returns the file path
// and its SHA-256.
func (f *fetcher) download(ctx context.Context, u, dir string) (string, string, error) {
	target := RewriteURL(u, f.rewrites)
	name := path.Base(strings.SplitN(u, "?", 2)[0])
	dst := filepath.Join(dir, name)
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("downloading %s: %s already exists (two artefacts with one name?)", u, dst)
	}
	if err := f.client(u).Download(ctx, target, dst, name, maxArtefact); err != nil {
		return "", "", via(u, target, err)
	}
	sum, err := sha256sums.File(dst)
	if err != nil {
		return "", "", fmt.Errorf("hashing %s: %w", dst, err)
	}
	return dst, sum, nil
}

// verify checks the SHA-256 got of the artefact named file against the
// upstream checksum source.
func (f *fetcher) verify(ctx context.Context, c *Checksum, sumURL, file, got string) error {
	var want string
	switch c.Kind {
	case "file":
		data, _, err := f.getSmall(ctx, sumURL)
		if err != nil {
			return fmt.Errorf("fetching checksum of %s: %w", file, err)
		}
		want, err = findSum(string(data), file)
		if err != nil {
			return fmt.Errorf("reading checksum file %s: %w", sumURL, err)
		}
	case "github-digest":
		data, _, err := f.getSmall(ctx, sumURL)
		if err != nil {
			return fmt.Errorf("fetching release digest of %s: %w", file, err)
		}
		var rel struct {
			Assets []struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"assets"`
		}
		if err := json.Unmarshal(data, &rel); err != nil {
			return fmt.Errorf("decoding release %s: %w", sumURL, err)
		}
		for _, a := range rel.Assets {
			if a.Name == file && strings.HasPrefix(a.Digest, "sha256:") {
				want = strings.TrimPrefix(a.Digest, "sha256:")
			}
		}
		if want == "" {
			runlog.From(ctx).Warn("upstream publishes no digest; not verified", "file", file, "release", sumURL)
			return nil
		}
	default:
		return fmt.Errorf("unknown checksum kind %q", c.Kind)
	}
	if !strings.EqualFold(want, got) {
		return verify.Errorf("verifying %s: checksum mismatch: got sha256 %s, upstream says %s (%s)", file, got, want, sumURL)
	}
	return nil
}

// findSum finds the hex SHA-256 of file in an upstream checksum file by
// the rules of package sha256sums: the entry whose base name is file, or
// the one bare digest of a FILE.sha256.
func findSum(data, file string) (string, error) {
	s, err := sha256sums.Parse([]byte(data))
	if err != nil {
		return "", err
	}
	if d, ok := s.LookupBase(file); ok {
		return d, nil
	}
	return "", fmt.Errorf("no SHA-256 listed for %s", file)
}
