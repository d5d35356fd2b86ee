package fetch

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/httpget"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/progress"
)

// Defaults for Options fields left empty.
const (
	DefaultReleasesJSONURL    = "https://www.flatcar.org/releases-json/releases.json"
	DefaultReleaseURLTemplate = "https://{channel}.release.flatcar-linux.net"
	DefaultBakeryURL          = "https://extensions.flatcar.org/extensions"
	DefaultIndexMaxAge        = time.Hour
	DefaultUserAgent          = "bake-os"
)

// ErrNotFound means the server does not have the file (HTTP 404 or 410),
// e.g. a release without prebuilt OEM sysexts.
var ErrNotFound = httpget.ErrNotFound

// ErrOffline means Options.Offline is set and something is not in the cache.
var ErrOffline = errors.New("not in the cache and offline")

// Options configures every fetch operation. The zero value fetches the
// latest stable x86-64 release from Flatcar's servers into the default cache.
type Options struct {
	// Release is alpha, beta, stable, lts or MAJOR.MINOR.PATCH; default stable.
	Release string
	// Arch selects the board; default x86-64.
	Arch flatcar.Arch
	// ReleasesJSONURL is the releases index; default DefaultReleasesJSONURL.
	ReleasesJSONURL string
	// ReleaseURLTemplate is the release server; "{channel}" is replaced by
	// the channel. Files are at TEMPLATE/{board}/{version}/FILE.
	ReleaseURLTemplate string
	// BakeryURL is where sysexts are: URL/FILE, URL/NAME.conf, URL/SHA256SUMS.
	BakeryURL string
	// CacheDir defaults to $XDG_CACHE_HOME/bake-os, else ~/.cache/bake-os.
	CacheDir string
	// SigningKeyFile replaces the embedded Flatcar key (armored or binary
	// OpenPGP public key): a newer copy of it, or a private mirror's key.
	SigningKeyFile string
	// Offline forbids network access: everything must be in the cache.
	Offline bool
	// IndexMaxAge is how long a cached releases index (and
	// current/version.txt) is reused without asking the server; default
	// DefaultIndexMaxAge. Offline uses the cached copy whatever its age.
	IndexMaxAge time.Duration
	// Timeout bounds each file's whole download, every retry included;
	// 0 means 10 minutes plus one second per MiB of the file's size.
	// Independently, a try that receives nothing for a minute is retried.
	Timeout time.Duration
	// HTTPClient defaults to a client with connect, TLS and header timeouts.
	HTTPClient *http.Client
	// Reporter receives download and verification progress.
	Reporter progress.Reporter
	// UserAgent is sent with every request; pass "bake-os/<version>".
	UserAgent string
	// Logger receives notes (info), retries and each HTTP request (debug);
	// nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Release == "" {
		o.Release = "stable"
	}
	if o.Arch == "" {
		o.Arch = flatcar.ArchX86_64
	} else {
		a, err := flatcar.ParseArch(string(o.Arch))
		if err != nil {
			return o, err
		}
		o.Arch = a
	}
	if o.ReleasesJSONURL == "" {
		o.ReleasesJSONURL = DefaultReleasesJSONURL
	}
	if o.ReleaseURLTemplate == "" {
		o.ReleaseURLTemplate = DefaultReleaseURLTemplate
	}
	if o.BakeryURL == "" {
		o.BakeryURL = DefaultBakeryURL
	}
	if o.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return o, err
		}
		o.CacheDir = d
	}
	if o.IndexMaxAge == 0 {
		o.IndexMaxAge = DefaultIndexMaxAge
	}
	if o.HTTPClient == nil {
		o.HTTPClient = httpget.NewHTTPClient()
	}
	if o.Logger != nil {
		o.HTTPClient = runlog.Client(o.HTTPClient, o.Logger)
	}
	o.Logger = runlog.Or(nil, o.Logger)
	o.Reporter = progress.OrNop(o.Reporter)
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o, nil
}

// DefaultCacheDir is $XDG_CACHE_HOME/bake-os, else $HOME/.cache/bake-os.
func DefaultCacheDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "bake-os"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory: %w; pass --cache-dir", err)
	}
	return filepath.Join(home, ".cache", "bake-os"), nil
}
