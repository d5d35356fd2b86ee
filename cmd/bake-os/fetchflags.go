package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/flatcar"
)

// fetchOptions are the download flags of the root command.
type fetchOptions struct {
	fetch        bool
	release      string
	releasesJSON string
	releaseURL   string
	bakeryURL    string
	cacheDir     string
	signingKey   string
	offline      bool
	timeout      time.Duration
}

func (o *fetchOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.fetch, "fetch", false, "download each NAME:FILE (and NAME.conf) from --bakery-url")
	fs.StringVar(&o.release, "release", "stable", "alpha, beta, stable, lts or X.Y.Z")
	fs.StringVar(&o.releasesJSON, "releases-json", "", "releases index URL (default: flatcar.org's releases.json)")
	fs.StringVar(&o.releaseURL, "release-url", "", "release server; {channel} is replaced (default: Flatcar's)")
	fs.StringVar(&o.bakeryURL, "bakery-url", "", "sysext bakery URL (default: extensions.flatcar.org)")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "download cache (default $XDG_CACHE_HOME/bake-os)")
	fs.StringVar(&o.signingKey, "signing-key", "", "OpenPGP public key replacing the embedded Flatcar key")
	fs.BoolVar(&o.offline, "offline", false, "never use the network: everything must be in the cache")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up on a download after this long, retries included (default 10m + 1s per MiB)")
}

func (o *fetchOptions) options(ctx context.Context, arch flatcar.Arch, d *deps) fetch.Options {
	return fetch.Options{
		Release: o.release, Arch: arch, ReleasesJSONURL: o.releasesJSON, ReleaseURLTemplate: o.releaseURL, Timeout: o.timeout,
		BakeryURL: o.bakeryURL, CacheDir: absPath(d.cwd, o.cacheDir), SigningKeyFile: absPath(d.cwd, o.signingKey),
		Offline: o.offline, Reporter: d.reporter(ctx), UserAgent: userAgent(),
		Logger: d.logger(),
	}
}
