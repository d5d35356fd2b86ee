package vendors

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/vendors/diskfmt"
)

// BuildOptions says what Build works from and where it writes.
type BuildOptions struct {
	// Base is the baked generic image (sparse raw, base layout). It is
	// only read.
	Base string
	// OutputDir receives the outputs; it is created when missing.
	OutputDir string
	// Arch of the image; default x86-64.
	Arch flatcar.Arch
	// FlatcarVersion names the installed OEM sysext
	// (oem-ID-VERSION.raw); default FLATCAR_VERSION of version.txt beside
	// Base.
	FlatcarVersion string
	// OEMSysextDir holds oem-ID.raw files; the directory of Base is
	// searched after it.
	OEMSysextDir string
	// FetchOEM, when set (release mode), returns the path of a downloaded
	// and verified oem-ID.raw; it is asked for sysexts found nowhere else.
	FetchOEM func(ctx context.Context, id string) (path string, err error)
	// FirmwareDir holds UEFI firmware for qemu_uefi (Flatcar's
	// *_efi_code.qcow2/*_efi_vars.qcow2, or OVMF/AAVMF .fd pairs); default
	// FetchFirmware, else the distribution's OVMF/AAVMF directories.
	FirmwareDir string
	// FetchFirmware, when set (release mode), returns the path of the
	// downloaded and verified release file name
	// (flatcar_production_qemu_uefi_efi_code.qcow2, ..._efi_vars.qcow2).
	FetchFirmware func(ctx context.Context, name string) (path string, err error)
	// Compress lists the compressed copies wanted of each vendor's main
	// output, comma-separated: none, bz2, gz, xz, zst, zip, or release (the
	// vendor's release compressions). "" (the default) writes the main
	// output uncompressed only, as the platform imports it; without "none"
	// in the list only the compressed copies are kept. Vendors whose
	// output is an archive by nature (ova, gce, vagrant, parallels, pxe)
	// ignore it.
	Compress string
	// Workers is the number of compressing goroutines; 0 = all CPUs.
	Workers int
	// Reporter receives progress; nil reports nothing.
	Reporter progress.Reporter
	// ConsumeBase says Base is a temporary file the caller deletes after
	// Build: when a single vendor group prepares a disk from it and
	// nothing else reads it, that group takes the file over (rename)
	// instead of copying it.
	ConsumeBase bool
	// Force replaces existing output files (else they are an error).
	Force bool
	// Logger gets each tool run (debug); nil: the one ctx carries.
	Logger *slog.Logger
	// Epoch (seconds since 1970; the caller reads SOURCE_DATE_EPOCH) is
	// the time written into archives, compression headers and the
	// prepared disk's ROOT and OEM edits; before 1980 (0: none given)
	// 2000-01-01 is written. Fixed so outputs are reproducible.
	Epoch int64
	// KernelArgs and KernelArgsRemove are merged into the OEM /grub.cfg
	// a vendor writes (provision.EditKernelArgs), as are the arguments
	// an earlier bake added to Base's grub.cfg; live media (iso, pxe, usb),
	// which have no OEM, add KernelArgs to their kernel command line.
	KernelArgs, KernelArgsRemove []string
	// Ignition, when set, is the Ignition config the live media (iso,
	// pxe, usb) carry in an extra initrd as usr/share/oem/config.ign; pxe
	// writes it as flatcar_production_pxe_ignition.cpio.gz.
	Ignition []byte
	// Ahead, when set, holds a qcow2 image of Base encoded while Base was
	// being made; the first vendor whose main output is a qcow2 disk is
	// finished from it (diskfmt.Ahead checks that what it encoded early
	// still matches the prepared disk). The caller closes it.
	Ahead *diskfmt.Ahead
}

// Artifact is one file Build wrote.
type Artifact struct {
	Vendor string
	// Kind: disk, archive, config, script, firmware, readme, kernel,
	// initrd or iso.
	Kind string
	Path string
	// Cmdline, on pxe's kernel, is the kernel command line to boot it
	// with (initrds, first boot, kernel arguments).
	Cmdline string
}

// job is one validated vendor with everything resolved.
type job struct {
	v        Vendor
	bundle   bundle
	comps    []Compression
	firmware firmware
}

type group struct {
	layout flatcar.Layout
	oem    *oemInput // nil: no OEM content
	jobs   []job
}

type plan struct {
	o       BuildOptions
	arch    flatcar.Arch
	version string
	groups  []*group // partitioned vendors, by (layout, OEM id)
	boot    []job    // iso, pxe, usb
	outputs []string // final paths, for the existence check
	// needVersion: an OEM sysext is installed, named by version.
	needVersion bool
}

// Result is what Run wrote and what it could not keep.
type Result struct {
	Artifacts []Artifact
	// Warnings name the OEM properties a vendor disk's rootless OEM
	// rebuild could not keep (e.g. btrfs compression), each once; they
	// are also logged (Warn) through o.Logger.
	Warnings []string
}

// Build is Run returning only the artifacts.
func Build(ctx context.Context, vendors []Vendor, o BuildOptions) ([]Artifact, error) {
	r, err := Run(ctx, vendors, o)
	if err != nil {
		return nil, err
	}
	return r.Artifacts, nil
}

// Run writes every vendor's outputs from o.Base. All inputs (base image,
// OEM sysexts, firmware, tools, output names) are checked before any
// work. Vendors sharing a layout and OEM sysext share one prepared disk.
// Outputs are written as temp files in o.OutputDir and renamed once all
// vendors succeeded; on error nothing is left behind.
func Run(ctx context.Context, vendors []Vendor, o BuildOptions) (*Result, error) {
	ctx = withEpoch(runlog.With(ctx, o.Logger), o.Epoch)
	p, err := makePlan(ctx, vendors, o)
	if err != nil {
		return nil, err
	}
	return p.build(ctx)
}

// Plan is a vendor build whose checks passed (Prepare), for Build to
// carry out: the checks, OEM sysext lookups and firmware downloads are
// done once.
type Plan struct{ p *plan }

// Prepare runs Preflight's checks (o.Base may be empty) and returns the
// plan that Build carries out once the base image exists.
func Prepare(ctx context.Context, vendors []Vendor, o BuildOptions) (*Plan, error) {
	p, err := makePlanMode(ctx, vendors, o, true)
	if err != nil {
		return nil, err
	}
	return &Plan{p}, nil
}

// Base is what Plan.Build takes that exists only once the base image
// is made; see BuildOptions for each field.
type Base struct {
	Path     string // BuildOptions.Base
	Consume  bool   // BuildOptions.ConsumeBase
	Ignition []byte // BuildOptions.Ignition; nil keeps the plan's
	Ahead    *diskfmt.Ahead
}

// Build writes every vendor's outputs from base as Run does, without
// repeating the checks Prepare made (the base image itself is checked
// here). A Plan is built once.
func (pl *Plan) Build(ctx context.Context, base Base) (*Result, error) {
	p := pl.p
	p.o.Base, p.o.ConsumeBase, p.o.Ahead = base.Path, base.Consume, base.Ahead
	if base.Ignition != nil {
		p.o.Ignition = base.Ignition
	}
	ctx = withEpoch(runlog.With(ctx, p.o.Logger), p.o.Epoch)
	if err := checkBase(p.o.Base); err != nil {
		return nil, err
	}
	if p.needVersion && p.version == "" {
		v, err := resolveVersion(p.o)
		if err != nil {
			return nil, err
		}
		p.version = v
	}
	return p.build(ctx)
}

// build writes the outputs of a checked plan.
func (p *plan) build(ctx context.Context) (*Result, error) {
	o := p.o
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	work, err := atomicfile.MkdirTemp(o.OutputDir, "vendors")
	if err != nil {
		return nil, fmt.Errorf("creating work directory: %w", err)
	}
	defer atomicfile.Remove(work)
	st := &stage{dir: o.OutputDir}
	defer st.cleanup()
	b := &builder{plan: p, work: work, st: st, rep: progress.OrNop(o.Reporter), workers: o.Workers, cmdlines: map[string]string{}}
	if b.workers <= 0 {
		b.workers = runtime.NumCPU()
	}
	for _, g := range p.groups {
		if err := b.buildGroup(ctx, g); err != nil {
			return nil, err
		}
	}
	for _, j := range p.boot {
		if err := b.buildJob(ctx, j, ""); err != nil {
			return nil, fmt.Errorf("building vendor %s: %w", j.v.Name, err)
		}
	}
	// Everything is written: the outputs are finalised here, all or none.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	arts, err := st.commit()
	for i := range arts {
		arts[i].Cmdline = b.cmdlines[filepath.Base(arts[i].Path)]
	}
	if err != nil {
		return nil, err
	}
	return &Result{Artifacts: arts, Warnings: b.warnings}, nil
}

// Preflight runs Build's checks (vendors for the arch, compressions and
// tools, firmware, OEM sysexts, output names) without any work, so a
// caller can refuse bad input before it bakes the base image. The base
// image and the Flatcar version are checked only when o.Base and
// o.FlatcarVersion are set. In release mode it calls FetchOEM and
// FetchFirmware (downloads that Build then finds in the cache).
func Preflight(ctx context.Context, vendors []Vendor, o BuildOptions) error {
	_, err := makePlanMode(ctx, vendors, o, true)
	return err
}

func makePlan(ctx context.Context, vendors []Vendor, o BuildOptions) (*plan, error) {
	return makePlanMode(ctx, vendors, o, false)
}

func makePlanMode(ctx context.Context, vendors []Vendor, o BuildOptions, preflight bool) (*plan, error) {
	if len(vendors) == 0 {
		return nil, errors.New("no vendor given: pass --vendor")
	}
	p := &plan{o: o, arch: o.Arch}
	if p.arch == "" {
		p.arch = flatcar.ArchX86_64
	}
	if err := CheckArch(vendors, p.arch); err != nil {
		return nil, err
	}
	if o.OutputDir == "" {
		return nil, errors.New("no output directory given")
	}
	if err := checkKernelArgs(o.KernelArgs); err != nil {
		return nil, err
	}
	if st, err := os.Stat(o.OutputDir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("output %s is not a directory", o.OutputDir)
	}
	if !preflight || o.Base != "" {
		if err := checkBase(o.Base); err != nil {
			return nil, err
		}
	}
	var err error
	var override []Compression
	if o.Compress != "" {
		if override, err = ParseCompressions(o.Compress); err != nil {
			return nil, err
		}
	}
	var tools []string
	var allComps []Compression
	groups := map[string]*group{}
	needVersion := false
	for _, v := range vendors {
		bd, err := lookupBundle(v.Bundle)
		if err != nil {
			return nil, fmt.Errorf("vendor %s: %w", v.Name, err)
		}
		j := job{v: v, bundle: bd}
		j.comps = v.compressions(override)
		allComps = append(allComps, j.comps...)
		if v.Disk.Format != "" {
			if _, err := lookupDisk(v.Disk); err != nil {
				return nil, err
			}
		}
		if ch, ok := bd.(checker); ok {
			c := &checkContext{o: o, arch: p.arch}
			if err := ch.Check(ctx, c); err != nil {
				return nil, err
			}
			tools = append(tools, c.tools...)
			j.firmware = c.firmware
		}
		p.outputs = append(p.outputs, v.outputNames(j.comps, o.Ignition != nil)...)
		if !v.Partitioned() {
			p.boot = append(p.boot, j)
			continue
		}
		layout := flatcar.Layouts[v.Layout]
		if v.Layout != "base" {
			tools = append(tools, "resize2fs")
		}
		if v.OEM != "" {
			needVersion = true
			tools = append(tools, "btrfs", "mkfs.btrfs")
		}
		key := v.Layout + "/" + v.OEM
		g := groups[key]
		if g == nil {
			g = &group{layout: layout}
			if v.OEM != "" {
				g.oem = &oemInput{ID: v.OEM}
			}
			groups[key] = g
			p.groups = append(p.groups, g)
		}
		g.jobs = append(g.jobs, j)
	}
	if err := checkCompressionTools(allComps); err != nil {
		return nil, err
	}
	for _, t := range tools {
		if _, err := lookTool(t); err != nil {
			return nil, err
		}
	}
	p.needVersion = needVersion
	if needVersion && (!preflight || o.FlatcarVersion != "") {
		if p.version, err = resolveVersion(o); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, f := range p.outputs {
		if seen[f] {
			return nil, fmt.Errorf("two vendors write %s: build them in separate runs", f)
		}
		seen[f] = true
		if err := atomicfile.CheckTarget(filepath.Join(o.OutputDir, f), o.Force); err != nil {
			return nil, err
		}
	}
	// OEM sysexts last: in release mode finding one may download it.
	oems := map[string]*oemInput{}
	for _, g := range p.groups {
		if g.oem == nil {
			continue
		}
		if in, ok := oems[g.oem.ID]; ok {
			g.oem = in
			continue
		}
		if err := resolveOEM(ctx, o, p.arch, g.oem); err != nil {
			return nil, err
		}
		oems[g.oem.ID] = g.oem
	}
	return p, nil
}

func checkBase(base string) error {
	d, err := gpt.Open(base)
	if err != nil {
		return fmt.Errorf("reading base image %s: %w", base, err)
	}
	if err := d.CheckFlatcar(); err != nil {
		return fmt.Errorf("checking base image %s: %w", base, err)
	}
	if l := flatcar.Layouts["base"]; d.Size != l.DiskBytes() {
		return fmt.Errorf("base image %s is %d bytes, not the base layout's %d: pass the generic image", base, d.Size, l.DiskBytes())
	}
	return nil
}

func lookTool(name string) (string, error) {
	p, err := execLookPath(name)
	if err != nil {
		return "", child.NotFound(name)
	}
	return p, nil
}

// resolveVersion returns o.FlatcarVersion or FLATCAR_VERSION from
// version.txt beside the base image.
func resolveVersion(o BuildOptions) (string, error) {
	v := o.FlatcarVersion
	if v == "" {
		vt, err := osrelease.ReadVersionTxt(filepath.Join(filepath.Dir(o.Base), osrelease.VersionTxtFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("Flatcar version unknown: %w (pass --flatcar-version)", err)
		}
		if err == nil {
			v = vt.Version
		}
	}
	if v == "" {
		return "", fmt.Errorf("Flatcar version unknown: pass --flatcar-version or put version.txt beside %s", o.Base)
	}
	if _, err := flatcar.ParseVersion(v); err != nil {
		return "", fmt.Errorf("flatcar version %q: %w", v, err)
	}
	return v, nil
}

// ErrNotPublished is what FetchOEM and FetchFirmware wrap when the release
// does not have the file at all (as opposed to a failed download or
// verification).
var ErrNotPublished = errors.New("not published with the release")

// resolveFirmware finds the qemu_uefi firmware: FirmwareDir, else the
// release's files through FetchFirmware, else the distribution's.
func resolveFirmware(ctx context.Context, o BuildOptions, arch flatcar.Arch) (firmware, error) {
	if o.FirmwareDir != "" || o.FetchFirmware == nil {
		return findFirmware(arch, o.FirmwareDir)
	}
	fw := firmware{Qcow2: true}
	for _, f := range []struct {
		name string
		dst  *string
	}{{qemuCodeName, &fw.Code}, {qemuVarsName, &fw.Vars}} {
		p, err := o.FetchFirmware(ctx, f.name)
		if errors.Is(err, ErrNotPublished) {
			// The release has no firmware files: use the distribution's.
			return findFirmware(arch, "")
		}
		if err != nil {
			return fw, fmt.Errorf("fetching UEFI firmware %s: %w", f.name, err)
		}
		*f.dst = p
	}
	return fw, nil
}

// resolveOEM finds oem-ID.raw (OEMSysextDir, then the base image's
// directory unless in release mode, then FetchOEM) and renders its
// /oem-release.
func resolveOEM(ctx context.Context, o BuildOptions, arch flatcar.Arch, in *oemInput) error {
	name := "oem-" + in.ID + ".raw"
	var dirs []string
	if o.OEMSysextDir != "" {
		dirs = append(dirs, o.OEMSysextDir)
	}
	if o.FetchOEM == nil && o.Base != "" {
		// With --image: the image's directory. In release mode only
		// verified downloads are used.
		dirs = append(dirs, filepath.Dir(o.Base))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			in.Path = p
			break
		}
	}
	if in.Path == "" && o.FetchOEM != nil {
		p, err := o.FetchOEM(ctx, in.ID)
		if err != nil {
			return fmt.Errorf("fetching OEM sysext %s: %w", name, err)
		}
		in.Path = p
	}
	if in.Path == "" {
		return fmt.Errorf("OEM sysext %s not found in %s: pass --oem-sysext-dir DIR holding %s (or use --release)",
			name, strings.Join(dirs, ", "), name)
	}
	data, err := ReadExtensionRelease(ctx, in.Path, "oem-"+in.ID)
	if err != nil {
		return err
	}
	rel, err := osrelease.ParseString(string(data))
	if err != nil {
		return fmt.Errorf("parsing extension-release of %s: %w", in.Path, err)
	}
	if a := rel.Get("ARCHITECTURE"); a != "" && a != string(arch) {
		return fmt.Errorf("OEM sysext %s is for %s, the image is %s: use the sysext of the image's architecture", in.Path, a, arch)
	}
	if in.OEMRelease, err = OEMRelease(data); err != nil {
		return fmt.Errorf("%s: %w", in.Path, err)
	}
	return nil
}

// compressible reports whether release compression applies to the main
// output (archives are already compressed).
func (v Vendor) compressible() bool { return mainFile(v.bundle()).Compress }

// compressions resolves the --compress list for v: nil means the default,
// the uncompressed output only; "release" expands to v's release
// compressions. Archives by nature keep their own (none).
func (v Vendor) compressions(override []Compression) []Compression {
	var out []Compression
	add := func(c Compression) {
		if !containsComp(out, c) {
			out = append(out, c)
		}
	}
	if !v.compressible() {
		override = []Compression{CompressRelease}
	}
	if len(override) == 0 {
		override = []Compression{CompressNone}
	}
	for _, c := range override {
		if c != CompressRelease {
			add(c)
			continue
		}
		for _, rc := range v.Compress {
			cc, _ := ParseCompression(rc)
			add(cc)
		}
	}
	return out
}

// hasNone reports whether the uncompressed main output is kept.
func hasNone(cs []Compression) bool { return slices.Contains(cs, CompressNone) }
