package bake

import (
	"context"
	"fmt"

	"github.com/bake-os/bake-os/fetch"
)

// Remote says what to download before baking; the zero value downloads
// nothing.
type Remote struct {
	// Image downloads the release image (fetch.Options.Release) when
	// Options.Image is empty.
	Image bool
	// Sysexts downloads each NAME:FILE from the bakery instead of using
	// local files.
	Sysexts bool
	Fetch   fetch.Options
}

// resolveRemote downloads (or finds in the cache) what o.Remote asks for
// and points o at the verified local files. It returns the release when it
// downloaded the image (vendors then take OEM sysexts and firmware from it).
func resolveRemote(ctx context.Context, o *Options) (*fetch.ReleaseRef, error) {
	r := o.Remote
	if r.Fetch.Arch == "" {
		r.Fetch.Arch = o.Arch
	}
	if r.Fetch.Reporter == nil {
		r.Fetch.Reporter = o.Reporter
	}
	if r.Sysexts {
		for i, s := range o.Sysexts {
			got, err := fetch.FetchSysext(ctx, r.Fetch, s.Name, s.RemoteFile)
			if err != nil {
				return nil, fmt.Errorf("fetching sysext %s: %w", s.Name, err)
			}
			o.Sysexts[i].File, o.Sysexts[i].Conf = got.RawPath, got.ConfPath
			if got.ConfPath != "" {
				o.Sysexts[i].ConfFrom = "downloaded with " + s.RemoteFile
			}
		}
	}
	if o.Image != "" || !r.Image {
		if o.Image == "" {
			return nil, fmt.Errorf("no image: pass --image, or --release to download one")
		}
		return nil, nil
	}
	img, err := fetch.FetchImage(ctx, r.Fetch)
	if err != nil {
		return nil, fmt.Errorf("fetching Flatcar %s image: %w", r.Fetch.Release, err)
	}
	o.Image = img.Path
	if o.Version == "" && img.Version != nil {
		o.Version = img.Version.Version
	}
	return &img.Ref, nil
}
