package fetch

import (
	"github.com/bake-os/bake-os/internal/httpget"
)

// Size caps: a Content-Length or a received byte count beyond the cap
// aborts the download and removes the partial file.
const (
	DefaultMaxSmallFile   = 16 << 20 // SHA256SUMS, .sig, .DIGESTS, version.txt, releases.json, NAME.conf
	DefaultMaxSysextFile  = 4 << 30  // a bakery sysext
	DefaultMaxReleaseFile = 16 << 30 // a release image or other release file
)

// baseBackoff and stallTimeout tune the HTTP client (see httpget); the
// max* are the size caps. Tests shorten them.
var (
	baseBackoff    = httpget.DefaultBackoff
	stallTimeout   = httpget.DefaultStallTimeout
	maxSmallFile   = int64(DefaultMaxSmallFile)
	maxSysextFile  = int64(DefaultMaxSysextFile)
	maxReleaseFile = int64(DefaultMaxReleaseFile)
)

// newClient is fetch's HTTP client for o.
func newClient(o Options) *httpget.Client {
	return &httpget.Client{
		HTTP: o.HTTPClient, UserAgent: o.UserAgent, Timeout: o.Timeout,
		Backoff: baseBackoff, StallTimeout: stallTimeout,
		Reporter: o.Reporter, Log: o.Logger,
	}
}
