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

// resolveRemote downloads (or finds in the cache) what Options.Remote
// asks for and sets j's image, sysexts and (when the download says)
// version to the verified local files; j.ref is the release when it
// downloaded the image (vendors then take OEM sysexts and firmware from
// it).
func resolveRemote(ctx context.Context, j *job) error {
	o := j.o
	j.image, j.version = o.Image, o.Version
	j.sysexts = append([]Sysext(nil), o.Sysexts...)
	r := o.Remote
	if r.Fetch.Arch == "" {
		r.Fetch.Arch = j.arch
	}
	if r.Fetch.Reporter == nil {
		r.Fetch.Reporter = o.Reporter
	}
	if r.Sysexts {
		for i, s := range j.sysexts {
			got, err := fetch.FetchSysext(ctx, r.Fetch, s.Name, s.RemoteFile)
			if err != nil {
				return fmt.Errorf("fetching sysext %s: %w", s.Name, err)
			}
			j.sysexts[i].File, j.sysexts[i].Conf = got.RawPath, got.ConfPath
			if got.ConfPath != "" {
				j.sysexts[i].ConfFrom = "downloaded with " + s.RemoteFile
			}
		}
	}
	if o.Image != "" || !r.Image {
		if o.Image == "" {
			return fmt.Errorf("no image: pass --image, or --release to download one")
		}
		return nil
	}
	img, err := fetch.FetchImage(ctx, r.Fetch)
	if err != nil {
		return fmt.Errorf("fetching Flatcar %s image: %w", r.Fetch.Release, err)
	}
	j.image, j.ref = img.Path, &img.Ref
	if j.version == "" && img.Version != nil {
		j.version = img.Version.Version
	}
	return nil
}
