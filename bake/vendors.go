package bake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/vendors"
	"github.com/bake-os/bake-os/vendors/diskfmt"
)

// Artifact is one vendor output.
type Artifact struct {
	Vendor string `json:"vendor"`
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	// Cmdline, on pxe's kernel, is the kernel command line to boot it with.
	Cmdline string `json:"cmdline,omitempty"`
}

// buildVendors turns the baked working image into the vendor images by
// the plan Preflight made (j.vendors). It runs before the generic image
// is moved into place, so a vendor failure leaves nothing behind. The
// artifacts go into res, and so do the warnings of the vendor disks' OEM
// rebuilds. ahead, when not nil, holds the qcow2 disk encoded while the
// image decoded.
func buildVendors(ctx context.Context, res *Result, work string, j *job, ahead *vendorAhead) error {
	base := vendors.Base{Path: work, Consume: true, Ahead: ahead.get()}
	if res.Ignition != nil {
		base.Ignition = res.Ignition.data
	}
	r, err := j.vendors.Build(ctx, base)
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

// prepareVendors makes the vendor plan for j.arch: every vendor input
// (OEM sysexts, firmware, tools, output names) is checked before the
// bake does any work, once.
func prepareVendors(ctx context.Context, j *job) error {
	p, err := vendors.Prepare(ctx, j.o.Vendors, vendorOptions(j))
	if err != nil {
		return err
	}
	j.vendors = p
	return nil
}

// vendorOptions completes Options.VendorOptions for the bake; the base
// image is given to the plan's Build.
func vendorOptions(j *job) vendors.BuildOptions {
	o := j.o
	vo := o.VendorOptions
	vo.OutputDir = j.outputDir
	vo.Arch = j.arch
	vo.Force = vo.Force || o.Force
	vo.KernelArgs, vo.KernelArgsRemove = o.KernelArgs, o.KernelArgsRemove
	if vo.FlatcarVersion == "" {
		vo.FlatcarVersion = j.version
	}
	if vo.Epoch == 0 {
		vo.Epoch = o.Epoch
	}
	if vo.Ignition == nil && o.IgnitionFile != "" {
		vo.Ignition = []byte{} // the Ignition outputs are named; Build gets the config
	}
	if vo.Workers == 0 {
		vo.Workers = o.Workers
	}
	if vo.Reporter == nil {
		vo.Reporter = o.Reporter
	}
	if vo.OEMSysextDir == "" && o.Image != "" {
		// The directory of --image holds oem-ID.raw in a local release tree.
		vo.OEMSysextDir = filepath.Dir(o.Image)
	}
	if ref := j.ref; ref != nil && vo.FetchOEM == nil {
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

// liveMediaWarnings says, for each live medium (iso, pxe, usb) among the
// vendors, that what the bake puts into ROOT and OEM is not on it: live
// media carry the kernel and /usr only (and an --ignition config).
func liveMediaWarnings(o Options, bp *bakePlan, log *slog.Logger) []string {
	if len(bp.Placements) == 0 && len(bp.Masks) == 0 && bp.extensions.empty() && len(bp.units) == 0 {
		return nil
	}
	var out []string
	for _, v := range o.Vendors {
		if !v.Live() {
			continue
		}
		w := fmt.Sprintf("--vendor %s carries the kernel and /usr only: the sysexts, masks, extensions and units this bake puts into ROOT and OEM are not on it (provision live media with --ignition)", v.Name)
		log.Warn(w)
		out = append(out, w)
	}
	return out
}

// vendorAhead overlaps the qcow2 disk of a vendor bake with the making of
// the working copy: while the image decodes, diskfmt.Ahead encodes the
// parts of the disk that neither the bake nor the vendor preparation
// touch (everything before OEM, and OEM-CONFIG; ROOT, OEM, the GPT and
// what the vendor layout grows are written at the end). Ahead checks the
// early clusters against the finished disk, so this choice only decides
// the speed. A nil *vendorAhead does nothing.
type vendorAhead struct {
	ctx context.Context
	j   *job
	a   *diskfmt.Ahead
}

// newVendorAhead returns a vendorAhead when a vendor of the bake writes a
// qcow2 disk, else nil.
func newVendorAhead(ctx context.Context, j *job) *vendorAhead {
	for _, v := range j.o.Vendors {
		if v.Disk.Format == "qcow2" && v.Disk.Subformat == "" {
			return &vendorAhead{ctx: ctx, j: j}
		}
	}
	return nil
}

// aheadRanges are the ranges of the base layout encoded ahead.
func aheadRanges() []sparse.Extent {
	first := map[string]int64{}
	end := map[string]int64{}
	for _, p := range flatcar.BaseLayout {
		first[p.Label] = int64(p.FirstSector) * flatcar.SectorSize
		end[p.Label] = int64(p.FirstSector+p.Sectors) * flatcar.SectorSize
	}
	oem, root := flatcar.LabelOEM, flatcar.LabelROOT
	return []sparse.Extent{
		{Off: 0, Len: first[oem]},
		{Off: end[oem], Len: first[root] - end[oem]},
	}
}

// start begins encoding the working copy at path. Failing to start only
// costs speed.
func (v *vendorAhead) start(path string) {
	if v == nil {
		return
	}
	a, err := diskfmt.StartQcow2Ahead(v.ctx, path, v.j.outputDir, aheadRanges(), diskfmt.Options{Workers: v.j.o.Workers})
	if err != nil {
		v.j.log.Debug("not encoding the qcow2 disk ahead", "err", err)
		return
	}
	v.a = a
}

// advance says the working copy is final below end.
func (v *vendorAhead) advance(end int64) {
	if v != nil && v.a != nil {
		v.a.Advance(end)
	}
}

func (v *vendorAhead) get() *diskfmt.Ahead {
	if v == nil {
		return nil
	}
	return v.a
}

// close stops the early encoding and removes its file if unused.
func (v *vendorAhead) close() {
	if v != nil && v.a != nil {
		v.a.Close()
	}
}
