package recipe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/internal/verify"
	"github.com/bake-os/bake-os/progress"
)

// fetcher performs rewritten HTTP requests for recipes and version lists.
type fetcher struct {
	client   *http.Client
	rewrites []Rewrite
	token    string // GitHub token, sent to api.github.com URLs
	reporter progress.Reporter
}

func (f *fetcher) get(ctx context.Context, u string) (*http.Response, error) {
	target := RewriteURL(u, f.rewrites)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("requesting %s: %w", u, err)
	}
	if f.token != "" && strings.HasPrefix(u, "https://api.github.com/") {
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Accept", "application/vnd.github+json")
	}
	c := f.client
	if c == nil {
		c = http.DefaultClient
	}
	var last error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * retryDelay):
			}
		}
		resp, err := c.Do(req.Clone(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("requesting %s: %w", describeURL(u, target), err)
			continue
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		resp.Body.Close()
		last = fmt.Errorf("requesting %s: HTTP %s", describeURL(u, target), resp.Status)
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			break // not transient
		}
	}
	return nil, last
}

// maxAttempts bounds retries of transient failures (connection errors,
// 5xx, 429); the delay between them grows linearly from retryDelay.
const maxAttempts = 3

var retryDelay = time.Second

func describeURL(u, target string) string {
	if u == target {
		return u
	}
	return u + " (via " + target + ")"
}

// getSmall reads a small response body (checksum files, API pages).
func (f *fetcher) getSmall(ctx context.Context, u string) ([]byte, http.Header, error) {
	resp, err := f.get(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", u, err)
	}
	return data, resp.Header, nil
}

// download saves u into dir under its base name and returns the file path
// and its SHA-256.
func (f *fetcher) download(ctx context.Context, u, dir string) (string, string, error) {
	resp, err := f.get(ctx, u)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	name := path.Base(strings.SplitN(u, "?", 2)[0])
	dst := filepath.Join(dir, name)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", "", fmt.Errorf("downloading %s: %w", u, err)
	}
	defer out.Close()
	ctr := progress.OrNop(f.reporter).Counter("downloading "+name, resp.ContentLength)
	defer ctr.Done()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h, counterWriter{ctr}), resp.Body); err != nil {
		return "", "", fmt.Errorf("downloading %s: %w", u, err)
	}
	if err := out.Close(); err != nil {
		return "", "", fmt.Errorf("writing %s: %w", dst, err)
	}
	return dst, hex.EncodeToString(h.Sum(nil)), nil
}

type counterWriter struct{ c progress.Counter }

func (w counterWriter) Write(p []byte) (int, error) { w.c.Add(int64(len(p))); return len(p), nil }

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
