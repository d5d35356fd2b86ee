package bake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/vendors"
)

// Artifact is one vendor output.
type Artifact struct {
	Vendor string `json:"vendor"`
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	// Cmdline, on pxe's kernel, is the kernel command line to boot it with.
	Cmdline string `json:"cmdline,omitempty"`
}

// buildVendors turns the baked working image into the vendor images. It
// runs before the generic image is moved into place, so a vendor failure
// leaves nothing behind. FlatcarVersion, Arch, Base and OutputDir of
// o.VendorOptions are filled in here. The artifacts go into res, and so
// do the warnings of the vendor disks' OEM rebuilds.
func buildVendors(ctx context.Context, res *Result, work, version string, o Options, ref *fetch.ReleaseRef) error {
	r, err := vendors.Run(ctx, o.Vendors, vendorOptions(work, version, o, ref))
	if err != nil {
		return err
	}
	res.Artifacts = make([]Artifact, 0, len(r.Artifacts))
	for _, a := range r.Artifacts {
		res.Artifacts = append(res.Artifacts, Artifact{Vendor: a.Vendor, Kind: a.Kind, Path: a.Path, Cmdline: a.Cmdline})
	}
	for _, w := range r.Warnings {
		if !slices.Contains(res.Warnings, w) {
			res.Warnings = append(res.Warnings, w)
		}
	}
	return nil
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
	vo.Force = vo.Force || o.Force
	vo.KernelArgs, vo.KernelArgsRemove = o.KernelArgs, o.KernelArgsRemove
	if vo.FlatcarVersion == "" {
		vo.FlatcarVersion = version
	}
	if vo.Epoch == 0 {
		vo.Epoch = o.Epoch
	}
	if vo.Ignition == nil && o.IgnitionFile != "" {
		vo.Ignition = []byte{} // preflight: the Ignition outputs are named; Run sets the config
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
			return releaseFile(ctx, f, *ref, "oem-"+id+".raw")
		}
		if vo.FetchFirmware == nil {
			vo.FetchFirmware = func(ctx context.Context, name string) (string, error) {
				return releaseFile(ctx, f, *ref, name)
			}
		}
	}
	return vo
}

// releaseFile downloads and verifies a file of the release; a file the
// release does not have is vendors.ErrNotPublished.
func releaseFile(ctx context.Context, f fetch.Options, ref fetch.ReleaseRef, name string) (string, error) {
	p, err := fetch.FetchReleaseFile(ctx, f, ref, name)
	if errors.Is(err, fetch.ErrNotFound) {
		return "", fmt.Errorf("%s: %w (%w)", name, vendors.ErrNotPublished, err)
	}
	return p, err
}

// liveMediaWarnings says, for each live medium (iso, pxe) among the
// vendors, that what the bake puts into ROOT and OEM is not on it: live
// media carry the kernel and /usr only (and an --ignition config).
func liveMediaWarnings(o Options, bp *bakePlan, log *slog.Logger) []string {
	if len(bp.Placements) == 0 && len(bp.Masks) == 0 && bp.extensions.empty() && len(bp.units) == 0 {
		return nil
	}
	var out []string
	for _, v := range o.Vendors {
		if v.Bundle != vendors.BundleISO && v.Bundle != vendors.BundlePXE {
			continue
		}
		w := fmt.Sprintf("--vendor %s carries the kernel and /usr only: the sysexts, masks, extensions and units this bake puts into ROOT and OEM are not on it (provision live media with --ignition)", v.Name)
		log.Warn(w)
		out = append(out, w)
	}
	return out
}
