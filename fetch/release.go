package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/osrelease"
)

// ReleaseRef names one release of one board on the release server.
type ReleaseRef struct {
	Version string // MAJOR.MINOR.PATCH
	Channel string // alpha, beta, stable or lts
	Board   string // amd64-usr or arm64-usr
	BaseURL string // TEMPLATE/{board}/{version}, no trailing slash
}

// URL is where file of this release is published.
func (r ReleaseRef) URL(file string) string { return r.BaseURL + "/" + file }

// ResolveRelease turns Options.Release into a ReleaseRef. A version
// resolves without the network (its channel follows from its minor
// number); a channel resolves to the highest version of that channel and
// architecture in the releases index, falling back to the signed
// {board}/current/version.txt of the channel's server.
func ResolveRelease(ctx context.Context, o Options) (ReleaseRef, error) {
	f, err := newFetcher(o)
	if err != nil {
		return ReleaseRef{}, err
	}
	return f.resolve(ctx)
}

func (f *fetcher) resolve(ctx context.Context) (ReleaseRef, error) {
	rel := strings.ToLower(strings.TrimSpace(f.o.Release))
	if v, err := flatcar.ParseVersion(rel); err == nil {
		return f.ref(v.String(), v.Channel()), nil
	}
	if !slices.Contains(flatcar.Channels, rel) {
		return ReleaseRef{}, fmt.Errorf("unknown release %q: use alpha, beta, stable, lts or a version such as 4593.2.5", f.o.Release)
	}
	v, idxErr := f.latestFromIndex(ctx, rel)
	if idxErr == nil {
		return f.ref(v, rel), nil
	}
	if ctx.Err() != nil {
		return ReleaseRef{}, ctx.Err()
	}
	v, curErr := f.latestFromCurrent(ctx, rel)
	if curErr != nil {
		return ReleaseRef{}, fmt.Errorf("resolving %s release: %w; fallback: %w", rel, idxErr, curErr)
	}
	f.o.Logger.Info("releases index unusable, used current/version.txt", "channel", rel, "version", v, "err", idxErr)
	return f.ref(v, rel), nil
}

func (f *fetcher) ref(version, channel string) ReleaseRef {
	base := strings.TrimRight(strings.ReplaceAll(f.o.ReleaseURLTemplate, "{channel}", channel), "/")
	board := f.o.Arch.Board()
	return ReleaseRef{Version: version, Channel: channel, Board: board, BaseURL: base + "/" + board + "/" + version}
}

// latestFromIndex reads the releases index (cached for IndexMaxAge).
func (f *fetcher) latestFromIndex(ctx context.Context, channel string) (string, error) {
	data, err := f.indexFile(ctx, f.o.ReleasesJSONURL)
	if err != nil {
		return "", err
	}
	v, err := latestInIndex(data, channel, f.o.Arch)
	if err != nil {
		return "", fmt.Errorf("reading releases index %s: %w", f.o.ReleasesJSONURL, err)
	}
	return v, nil
}

// indexFile returns the bytes of an unsigned, changing file (the releases
// index), from the cache when younger than IndexMaxAge or when offline.
func (f *fetcher) indexFile(ctx context.Context, rawURL string) ([]byte, error) {
	dest, err := cachePath(f.o.CacheDir, rawURL)
	if err != nil {
		return nil, err
	}
	if f.o.Offline || fresh(dest, f.o.IndexMaxAge) {
		data, err := os.ReadFile(dest)
		if err == nil {
			return data, nil
		}
		if f.o.Offline {
			return nil, offlineError("releases index", rawURL, dest)
		}
	}
	data, err := f.c.Small(ctx, rawURL, maxSmallFile)
	if err != nil {
		return nil, fmt.Errorf("fetching releases index: %w", err)
	}
	if err := writeFileAtomic(dest, data); err != nil {
		return nil, fmt.Errorf("caching releases index: %w", err)
	}
	return data, nil
}

// latestInIndex picks the highest strict MAJOR.MINOR.PATCH key of
// releases.json whose channel matches and whose architectures (when
// listed) include arch. Other keys ("current-2021" ...) are ignored.
func latestInIndex(data []byte, channel string, arch flatcar.Arch) (string, error) {
	var idx map[string]struct {
		Channel       string   `json:"channel"`
		Architectures []string `json:"architectures"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return "", fmt.Errorf("parsing JSON: %w", err)
	}
	var best *flatcar.Version
	for key, e := range idx {
		v, err := flatcar.ParseVersion(key)
		// Strict keys only: "04593.2.5" would be picked as 4593.2.5, a
		// release the index does not name.
		if err != nil || v.String() != key || e.Channel != channel {
			continue
		}
		if len(e.Architectures) > 0 && !slices.Contains(e.Architectures, arch.GoArch()) {
			continue
		}
		if best == nil || best.Less(v) {
			best = &v
		}
	}
	if best == nil {
		return "", fmt.Errorf("no %s release for %s", channel, arch)
	}
	return best.String(), nil
}

// latestFromCurrent reads the signed {board}/current/version.txt of the
// channel's server (cached for IndexMaxAge).
func (f *fetcher) latestFromCurrent(ctx context.Context, channel string) (string, error) {
	cur := f.ref("current", channel).URL("version.txt")
	p, err := f.signedFile(ctx, cur, f.o.IndexMaxAge)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	info, err := osrelease.ParseVersionTxt(data)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", cur, err)
	}
	v, err := flatcar.ParseVersion(info.Version)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", cur, err)
	}
	if v.Channel() != channel {
		return "", errors.New(cur + " names " + v.String() + ", not a " + channel + " version")
	}
	return v.String(), nil
}
