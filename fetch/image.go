package fetch

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/bake-os/bake-os/osrelease"
)

// Release file names.
const (
	ImageFile   = "flatcar_production_image.bin.bz2"
	VersionFile = osrelease.VersionTxtFile
)

// Image is a verified generic image in the cache.
type Image struct {
	Ref            ReleaseRef
	Path           string // flatcar_production_image.bin.bz2 (compressed)
	VersionTxtPath string
	Version        *osrelease.VersionTxt
}

// FetchImage resolves the release and returns its verified
// flatcar_production_image.bin.bz2 and version.txt from the cache,
// downloading what is missing. version.txt must name the resolved version.
func FetchImage(ctx context.Context, o Options) (*Image, error) {
	f, err := newFetcher(o)
	if err != nil {
		return nil, err
	}
	ref, err := f.resolve(ctx)
	if err != nil {
		return nil, err
	}
	if f.o.Offline {
		var missing []string
		for _, name := range []string{VersionFile, ImageFile} {
			if p, ok := f.cachedComplete(ref.URL(name)); !ok {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("Flatcar %s %s: %s missing: %w; run once without --offline to fetch them",
				ref.Board, ref.Version, strings.Join(missing, ", "), ErrOffline)
		}
	}
	vpath, err := f.signedFile(ctx, ref.URL(VersionFile), 0)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(vpath)
	if err != nil {
		return nil, fmt.Errorf("reading version.txt: %w", err)
	}
	info, err := osrelease.ParseVersionTxt(data)
	if err != nil {
		return nil, err
	}
	if info.Version != ref.Version && info.VersionID != ref.Version {
		return nil, fmt.Errorf("%s: version.txt names %s, not %s: the server mixes releases", ref.URL(VersionFile), info.Version, ref.Version)
	}
	ipath, err := f.signedFile(ctx, ref.URL(ImageFile), 0)
	if err != nil {
		return nil, err
	}
	return &Image{Ref: ref, Path: ipath, VersionTxtPath: vpath, Version: info}, nil
}

// FetchReleaseFile returns a verified copy of any signed file of the
// release ref (e.g. oem-qemu.raw, flatcar_production_qemu_uefi_efi_code.qcow2)
// from the cache, downloading it when missing. A file the server does not
// have gives an error that says so.
func FetchReleaseFile(ctx context.Context, o Options, ref ReleaseRef, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("release file name %q is not a plain file name", name)
	}
	f, err := newFetcher(o)
	if err != nil {
		return "", err
	}
	return f.signedFile(ctx, ref.URL(name), 0)
}
