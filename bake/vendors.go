package bake

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/vendors"
)

// Artifact is one vendor output.
type Artifact struct {
	Vendor string `json:"vendor"`
	Kind   string `json:"kind"`
	Path   string `json:"path"`
}

// buildVendors turns the baked working image into the vendor images. It
// runs before the generic image is moved into place, so a vendor failure
// leaves nothing behind. FlatcarVersion, Arch, Base and OutputDir of
// o.VendorOptions are filled in here.
func buildVendors(ctx context.Context, work, version string, o Options, ref *fetch.ReleaseRef) ([]Artifact, error) {
	arts, err := vendors.Build(ctx, o.Vendors, vendorOptions(work, version, o, ref))
	if err != nil {
		return nil, err
	}
	out := make([]Artifact, 0, len(arts))
	for _, a := range arts {
		out = append(out, Artifact{Vendor: a.Vendor, Kind: a.Kind, Path: a.Path})
	}
	return out, nil
}

// preflightVendors checks every vendor input (OEM sysexts, firmware,
// tools, output names) before the bake does any work.
func preflightVendors(ctx context.Context, version string, o Options, ref *fetch.ReleaseRef) error {
	return vendors.Preflight(ctx, o.Vendors, vendorOptions("", version, o, ref))
}

// vendorOptions completes o.VendorOptions for the baked image at work.
func vendorOptions(work, version string, o Options, ref *fetch.ReleaseRef) vendors.BuildOptions {
	vo := o.VendorOptions
	vo.Base = work
	vo.ConsumeBase = work != "" // the working copy is ours and deleted after
	vo.OutputDir = o.OutputDir
	vo.Arch = o.Arch
	if vo.FlatcarVersion == "" {
		vo.FlatcarVersion = version
	}
	if vo.Workers == 0 {
		vo.Workers = o.Workers
	}
	if vo.Reporter == nil {
		vo.Reporter = o.Reporter
	}
	if vo.OEMSysextDir == "" && o.imageGiven != "" {
		// The directory of --image holds oem-ID.raw in a local release tree.
		vo.OEMSysextDir = filepath.Dir(o.imageGiven)
	}
	if ref != nil && vo.FetchOEM == nil {
		f := o.Remote.Fetch
		vo.FetchOEM = func(ctx context.Context, id string) (string, error) {
			return fetch.FetchReleaseFile(ctx, f, *ref, "oem-"+id+".raw")
		}
	}
	return vo
}

// releaseFirmware downloads the release's qemu_uefi firmware files into
// the cache and returns their directory, or "" when the release has none.
func releaseFirmware(ctx context.Context, f fetch.Options, ref fetch.ReleaseRef) (string, error) {
	var dir string
	for _, name := range []string{"flatcar_production_qemu_uefi_efi_code.qcow2", "flatcar_production_qemu_uefi_efi_vars.qcow2"} {
		p, err := fetch.FetchReleaseFile(ctx, f, ref, name)
		if err != nil {
			return "", fmt.Errorf("fetching qemu_uefi firmware: %w", err)
		}
		if dir != "" && filepath.Dir(p) != dir {
			return "", fmt.Errorf("fetching qemu_uefi firmware: files landed in different cache directories")
		}
		dir = filepath.Dir(p)
	}
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}
