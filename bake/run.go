package bake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sysext"
	"github.com/bake-os/bake-os/vendors"
)

// ImageName is the file name of the baked generic image.
const ImageName = "flatcar_production_image.bin"

// Options describes one bake: only what the caller sets. The bake never
// changes them; what it derives (downloads, the architecture, the plan)
// lives in its Plan.
type Options struct {
	Image     string // flatcar_production_image.bin or .bin.bz2
	OutputDir string // default "."
	Target    Target // default root:/opt/extensions/
	Arch      flatcar.Arch
	Sysexts   []Sysext
	Masks     []string // names whose /etc/extensions/NAME.raw -> /dev/null
	// Version of the image for VERSION_ID checks; default: version.txt
	// beside Image.
	Version string
	Epoch   int64 // timestamps in ROOT (0: now)
	Workers int
	// Mount edits ROOT and OEM through loop mounts (root only) instead of
	// debugfs and the btrfs rebuild.
	Mount  bool
	Remote Remote // downloads, when wanted
	// Vendors, when set, are written from the baked image instead of the
	// plain OutputDir/flatcar_production_image.bin (ask for "generic" to
	// get that too).
	Vendors       []vendors.Vendor
	VendorOptions vendors.BuildOptions
	// Force replaces existing outputs (the plain image and vendor files),
	// and an Ignition config the image already holds; without it an
	// existing output refuses the bake before any work.
	Force bool
	// IgnitionFile is an Ignition config (JSON, or Butane transpiled by
	// the butane binary) baked into OEM as /config.ign, where Flatcar's
	// initrd reads it on first boot (docs/provisioning.md). It is
	// validated for the image's Flatcar version before any work.
	IgnitionFile string
	// IgnitionMerge merges IgnitionFile with a config the image already
	// holds (Ignition's own ignition.config.merge); without it, or Force,
	// such an image is refused.
	IgnitionMerge bool
	// EnableExtensions are Flatcar's optional extensions (zfs, podman,
	// ...) to list in ROOT's enabled-sysext.conf and, with the image's
	// release known, to pre-place verified; DisableExtensions get a
	// "-NAME" line (and docker/containerd their NAME-flatcar mask).
	EnableExtensions  []string
	DisableExtensions []string
	// KernelArgs are merged into OEM /grub.cfg's linux_append, and
	// KernelArgsRemove (an exact word, or NAME for NAME=...) dropped from
	// it, keeping its other lines (provision.EditKernelArgs); vendors
	// merge them into their own grub.cfg.
	KernelArgs, KernelArgsRemove []string
	// Sysupdate enables systemd-sysupdate.timer and writes the
	// systemd-sysupdate.service drop-ins updating each baked sysext that
	// has a sysupdate config (provision.SysupdateUnits).
	Sysupdate bool

	// WorkingCopyWritten, when set, is called as the working copy is
	// made, with its path (a temp file in OutputDir) and the offset below
	// which it is final (decompress.Options.Written; for a raw input once,
	// at its size), so that a consumer (install) can read the parts the
	// bake does not edit while decoding goes on: without Vendors, the
	// bake edits only ROOT and OEM of the working copy, and reads of the
	// rest only the GPT and the ESP. Calls come from one goroutine with
	// increasing offsets, and must return quickly.
	WorkingCopyWritten func(path string, end int64)

	Reporter progress.Reporter
	Logger   *slog.Logger
}

// Installed reports one installed sysext.
type Installed struct {
	Name       string `json:"name"`
	Partition  string `json:"partition"`
	Path       string `json:"path"`
	Link       string `json:"link"`
	LinkTarget string `json:"link_target"`
	Conf       string `json:"sysupdate_conf,omitempty"`
	// ConfSource is the local file the sysupdate config was read from,
	// ConfFrom where it was found (next to FILE, current directory).
	ConfSource string `json:"sysupdate_conf_source,omitempty"`
	ConfFrom   string `json:"sysupdate_conf_found,omitempty"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
}

// Result reports a finished bake.
type Result struct {
	Image     string      `json:"image,omitempty"`
	Artifacts []Artifact  `json:"artifacts,omitempty"`
	Arch      string      `json:"arch"`
	Sysexts   []Installed `json:"sysexts"`
	Masks     []string    `json:"masks,omitempty"`
	// Replaced lists the sysexts and masks the image already had under
	// a baked NAME, and what of them was removed or overwritten.
	Replaced []Replaced `json:"replaced,omitempty"`
	// Written is every path the bake wrote into the image, in order.
	Written []Written `json:"written"`
	// Ignition is the Ignition config baked into OEM, if any.
	Ignition *IgnitionResult `json:"ignition,omitempty"`
	// Extensions reports Flatcar's optional extensions enabled, disabled
	// and pre-placed.
	Extensions *ExtensionsResult `json:"extensions,omitempty"`
	// KernelArgs is the edit of the baked OEM /grub.cfg, if asked for
	// (a vendor's grub.cfg merges the same arguments into its own).
	KernelArgs *KernelArgsResult `json:"kernel_args,omitempty"`
	// ResetKeepPaths are flatcar-reset --keep-paths regular expressions
	// keeping every path the bake wrote into ROOT (when it wrote to /etc).
	ResetKeepPaths []string `json:"reset_keep_paths,omitempty"`
	// Warnings name what the bake could not keep (e.g. OEM compression
	// lost by the rootless rebuild).
	Warnings []string `json:"warnings,omitempty"`
}

// IgnitionResult reports the Ignition config a bake put into OEM.
type IgnitionResult struct {
	Path    string `json:"path"`   // in OEM: /config.ign
	Source  string `json:"source"` // the file given (and the image's, merged)
	Version string `json:"spec_version"`
	SHA256  string `json:"sha256"`
	Size    int    `json:"size"`
	// Merged: the image's earlier config and the new one are merged;
	// Replaced: the image's earlier config was overwritten (--force).
	Merged   bool   `json:"merged,omitempty"`
	Replaced bool   `json:"replaced,omitempty"`
	data     []byte // the config written, for the live media vendors
}

// Written is one path a bake wrote.
type Written struct {
	Partition  string `json:"partition"` // ROOT or OEM
	Path       string `json:"path"`
	Kind       string `json:"kind"` // image, link, sysupdate-config, noop-config, mask, sysupdate-timer-link, sysupdate-dropin, ignition-config, kernel-args
	LinkTarget string `json:"link_target,omitempty"`
}

// Plan is a bake whose every check that can be made before writing has
// passed (Preflight): inputs, placement, the vendor plan, overwrites.
// Build carries it out; Close releases it when Build is not called. It
// holds OutputDir's lock until then.
type Plan struct{ j *job }

// job is one bake's derived and scratch state; the Options it was made
// from stay as the caller gave them.
type job struct {
	o         Options
	log       *slog.Logger
	outputDir string
	target    Target
	// givenArch is Options.Arch; arch the image's, once known
	// (archKnown), else the one the sysexts and vendors were checked for.
	givenArch, arch flatcar.Arch
	archKnown       bool
	image           string   // the local image (downloaded with Remote.Image)
	sysexts         []Sysext // with local files (downloaded with Remote.Sysexts)
	version         string   // the image's Flatcar version, or ""
	ref             *fetch.ReleaseRef
	lock            *atomicfile.DirLock
	bp              *bakePlan
	vendors         *vendors.Plan // nil without Options.Vendors
	liveWarnings    []string
}

// Run bakes: Preflight, then Build. Every input is checked before the
// first write; the output is written to a temp file in OutputDir and
// renamed to OutputDir/flatcar_production_image.bin at the end.
// OutputDir is created when missing and locked for the whole run
// (atomicfile.LockDir): a second run into it is refused, and temp files
// of killed earlier runs are removed. When ctx is cancelled, Run stops its
// tools and removes its temp files before it returns.
func Run(ctx context.Context, o Options) (*Result, error) {
	p, err := Preflight(ctx, o)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Build(ctx)
}

// Preflight makes every check of the bake that needs no writing, once:
// the inputs (sysexts against the image, masks, extensions, Ignition),
// the placement plan, the vendor plan and the outputs it would overwrite.
// Downloads asked for by o.Remote happen here. OutputDir is created and
// locked; the returned Plan holds the lock until Build returns or Close.
func Preflight(ctx context.Context, o Options) (_ *Plan, err error) {
	j := &job{o: o, log: o.Logger, outputDir: o.OutputDir, target: o.Target, givenArch: o.Arch, arch: o.Arch}
	if j.outputDir == "" {
		j.outputDir = "."
	}
	if j.target == (Target{}) {
		j.target, _ = ParseTarget(DefaultInstallTo)
	}
	// Arch "" means the image's: read from a raw image now, from the
	// working copy of a compressed or downloaded one (until then, and for
	// downloads, x86-64).
	if j.arch == "" {
		j.arch = flatcar.ArchX86_64
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	ctx = runlog.With(ctx, j.log) // tool runners below log through it
	if err := checkMasks(o.Masks, o.Sysexts); err != nil {
		return nil, err
	}
	if err := CheckExtensions(o.EnableExtensions, o.DisableExtensions, o.Sysexts, o.Masks); err != nil {
		return nil, err
	}
	if !o.Remote.Image {
		if a := archOfFile(o.Image); a != "" {
			if j.arch, err = settleArch(o.Image, j.givenArch, a, j.log); err != nil {
				return nil, err
			}
			j.archKnown = true
		}
	}
	if j.lock, err = claimOutputDir(j.outputDir, j.log); err != nil {
		return nil, err
	}
	p := &Plan{j}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := resolveRemote(ctx, j); err != nil {
		return nil, err
	}
	outs, err := outputPaths(j)
	if err != nil {
		return nil, err
	}
	if err := checkOutput(j.image, outs); err != nil {
		return nil, err
	}
	if j.version == "" {
		if j.version, err = ReadVersionTxt(j.image); err != nil {
			return nil, err
		}
	}
	// With vendors, their plan (in checkSysexts) refuses existing
	// outputs; else the plain image is checked here. Both before any work.
	if err := precheckSysexts(ctx, j, j.archKnown || j.givenArch != ""); err != nil {
		return nil, err
	}
	if len(o.Vendors) == 0 {
		if err := atomicfile.CheckTarget(filepath.Join(j.outputDir, ImageName), o.Force); err != nil {
			return nil, err
		}
	}
	ign, err := loadIgnition(ctx, o, j.version, j.log)
	if err != nil {
		return nil, err
	}
	if j.bp, err = plan(j); err != nil {
		return nil, err
	}
	j.bp.ignition, j.bp.version = ign, j.version
	j.liveWarnings = liveMediaWarnings(o, j.bp, j.log)
	return p, nil
}

// Close releases the plan's output directory; after Build it does
// nothing.
func (p *Plan) Close() {
	if p.j.lock != nil {
		p.j.lock.Unlock()
		p.j.lock = nil
	}
}

// Build carries out the plan: the working copy, the writes into ROOT and
// OEM, and the plain image or the vendor outputs moved into place. A plan
// is built once; Build releases it.
func (p *Plan) Build(ctx context.Context) (*Result, error) {
	j := p.j
	if j.lock == nil {
		return nil, fmt.Errorf("bake plan already built or closed")
	}
	defer p.Close()
	o := j.o
	ctx = runlog.With(ctx, j.log)
	ahead := newVendorAhead(ctx, j)
	defer ahead.close()
	work, disk, err := workingCopy(ctx, j.image, j.outputDir, o.Workers, o.Reporter, ahead, o.WorkingCopyWritten)
	if err != nil {
		return nil, err
	}
	// Removes the working copy if it is still there: not renamed into
	// place, nor taken over by a vendor build.
	defer atomicfile.Remove(work)
	if !j.archKnown {
		a, err := ImageArch(work, disk)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", j.image, err)
		}
		if a, err = settleArch(j.image, j.givenArch, a, j.log); err != nil {
			return nil, err
		}
		// The sysexts and vendors were checked for j.arch: again for
		// the image's, when it is another.
		if a != j.arch {
			j.arch = a
			if err := checkSysexts(ctx, j); err != nil {
				return nil, err
			}
		}
		j.archKnown = true
	}
	if err := j.bp.fetchExtensions(ctx, j); err != nil {
		return nil, err
	}
	res, err := install(ctx, work, disk, j)
	if err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, j.liveWarnings...)
	if err := gpt.Validate(work); err != nil {
		return nil, fmt.Errorf("checking baked image: %w", err)
	}
	if j.vendors != nil {
		if err := buildVendors(ctx, res, work, j, ahead); err != nil {
			return nil, err
		}
		return res, nil
	}
	out := filepath.Join(j.outputDir, ImageName)
	if err := finishOutput(ctx, work, out); err != nil {
		return nil, err
	}
	res.Image = out
	return res, nil
}

// outputPaths lists every file the run writes into OutputDir.
func outputPaths(j *job) ([]string, error) {
	if len(j.o.Vendors) == 0 {
		return []string{filepath.Join(j.outputDir, ImageName)}, nil
	}
	var out []string
	ign := j.o.IgnitionFile != "" || j.o.VendorOptions.Ignition != nil
	for _, v := range j.o.Vendors {
		names, err := v.OutputNames(j.o.VendorOptions.Compress, ign)
		if err != nil {
			return nil, err
		}
		for _, f := range names {
			out = append(out, filepath.Join(j.outputDir, f))
		}
	}
	return out, nil
}

// finishOutput moves the finished plain image from its temp file into
// place: the one place the plain output is finalised (vendor outputs are
// finalised by vendors.Build).
func finishOutput(ctx context.Context, tmp, out string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("moving baked image into place: %w", err)
	}
	atomicfile.Forget(tmp)
	return nil
}

// claimOutputDir creates dir when missing, locks it and removes the temp
// files that killed earlier runs left there.
func claimOutputDir(dir string, log *slog.Logger) (*atomicfile.DirLock, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("output directory %s exists and is not a directory: choose another --output-dir", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	lock, err := atomicfile.LockDir(dir)
	if err != nil {
		return nil, err
	}
	stale, err := lock.RemoveStale()
	for _, name := range stale {
		log.Info("removed a temp file of an earlier, killed run", "path", filepath.Join(dir, name))
	}
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	return lock, nil
}

// checkSysexts checks each sysext against the image and, with vendors,
// makes their plan (vendors.Prepare: every vendor check), for j.arch.
func checkSysexts(ctx context.Context, j *job) error {
	host := sysext.FlatcarHost(j.arch, j.version)
	for _, s := range j.sysexts {
		if _, err := checkFile("sysext "+s.Name, s.File); err != nil {
			return err
		}
		rel, err := sysext.ReadRelease(s.File, s.Name)
		if err != nil {
			return fmt.Errorf("sysext %s: %w", s.Name, err)
		}
		if err := sysext.Compatible(rel, host); err != nil {
			return fmt.Errorf("sysext %s (%s): %w", s.Name, s.File, err)
		}
		if j.version == "" && rel.Get("ID") != "_any" && rel.Get("SYSEXT_LEVEL") == "" {
			return fmt.Errorf("sysext %s matches by VERSION_ID=%s but the image's version is unknown: put its version.txt beside the image",
				s.Name, rel.Get("VERSION_ID"))
		}
	}
	if len(j.o.Vendors) > 0 {
		return prepareVendors(ctx, j)
	}
	return nil
}

// checkOutput refuses a run one of whose outputs is the input image.
func checkOutput(input string, outputs []string) error {
	a, err := os.Stat(input)
	if err != nil {
		return fmt.Errorf("image %s: %w", input, err)
	}
	for _, out := range outputs {
		if b, err := os.Stat(out); err == nil && os.SameFile(a, b) {
			return fmt.Errorf("output %s is the input image: choose another --output-dir (the input is never modified)", out)
		}
	}
	return nil
}

func checkMasks(masks []string, sysexts []Sysext) error {
	seen := map[string]string{}
	for _, s := range sysexts {
		seen[s.Name] = "sysext " + s.Name
	}
	for _, m := range masks {
		if err := sysext.ValidName(m); err != nil {
			return fmt.Errorf("--mask: %w", err)
		}
		if other, ok := seen[m]; ok {
			return fmt.Errorf("--mask %s: duplicate NAME: it and %s are both %s", m, other, linkPath(m))
		}
		seen[m] = "--mask " + m
	}
	return nil
}

// install does the writes into the working copy: it reads what the image
// already has, refuses to overwrite anything that is not the old version
// of a sysext or mask being replaced, removes those old versions, then
// writes the plan.
func install(ctx context.Context, work string, disk *gpt.Disk, j *job) (*Result, error) {
	o, bp, log := j.o, j.bp, j.log
	rootPart, err := disk.ByLabel(flatcar.LabelROOT)
	if err != nil {
		return nil, err
	}
	var root partitions.Editor
	if o.Mount {
		root, err = partitions.OpenMount(work, rootPart.Offset(), rootPart.Size(), partitions.FSExt4)
	} else {
		root, err = partitions.OpenExt4(work, rootPart.Offset(), partitions.Ext4Options{Epoch: o.Epoch, Context: ctx, Logger: o.Logger, Size: rootPart.Size()})
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	editors := map[string]partitions.Editor{PartROOT: root}
	old, err := readExisting(root)
	if err != nil {
		return nil, err
	}
	repl, err := bp.replacements(root, old)
	if err != nil {
		return nil, err
	}
	need := map[string]int64{}
	for _, p := range bp.Placements {
		need[p.Part] += p.Size
	}
	need[PartROOT] += bp.extensions.bytes()
	if need[PartOEM] > 0 || repl.touches(PartOEM) || bp.ignition != nil || bp.kargs {
		oemPart, err := disk.ByLabel(flatcar.LabelOEM)
		if err != nil {
			return nil, err
		}
		var oem partitions.Editor
		if o.Mount {
			oem, err = partitions.OpenMount(work, oemPart.Offset(), oemPart.Size(), partitions.FSBtrfs)
		} else {
			oem, err = partitions.OpenBtrfs(ctx, work, oemPart.Offset(), oemPart.Size(), partitions.BtrfsOptions{WorkDir: j.outputDir, Epoch: o.Epoch, Logger: o.Logger})
		}
		if err != nil {
			return nil, err
		}
		defer oem.Close()
		editors[PartOEM] = oem
	}
	if err := bp.checkExisting(editors, old, repl); err != nil {
		return nil, err
	}
	for part, n := range need {
		free, err := editors[part].FreeBytes()
		if err != nil {
			return nil, fmt.Errorf("reading free space of %s: %w", part, err)
		}
		// Keep 1 MiB plus 1% for metadata.
		if n+n/100+(1<<20) > free {
			return nil, fmt.Errorf("not enough free space in the %s partition: sysexts need %d MiB, %d MiB free (use --install_to %s, or fewer sysexts)",
				partLabel(part), n>>20, free>>20, otherPart(part))
		}
	}
	res := &Result{Arch: string(j.arch), Masks: o.Masks, Sysexts: []Installed{}, Written: []Written{}}
	for _, r := range repl.list {
		for _, k := range r.removals {
			if err := editors[k.part].Remove(k.path); err != nil {
				return nil, fmt.Errorf("replacing %s: %w", r.Name, err)
			}
		}
		log.Warn(r.summary())
		res.Replaced = append(res.Replaced, r.Replaced)
	}
	rep := progress.OrNop(o.Reporter)
	wrote := func(part, p, kind, target string) {
		res.Written = append(res.Written, Written{Partition: partLabel(part), Path: p, Kind: kind, LinkTarget: target})
	}
	for _, p := range bp.Placements {
		ed := editors[p.Part]
		sum, err := writeImage(ed, p, rep)
		if err != nil {
			return nil, fmt.Errorf("installing sysext %s: %w", p.Name, err)
		}
		wrote(p.Part, p.Path, "image", "")
		if err := root.Symlink(p.LinkTarget, p.Link); err != nil {
			return nil, fmt.Errorf("linking sysext %s: %w", p.Name, err)
		}
		wrote(PartROOT, p.Link, "link", p.LinkTarget)
		if p.Conf != "" {
			if err := writeLocal(root, p.Conf, p.ConfDest); err != nil {
				return nil, fmt.Errorf("installing sysupdate config of %s: %w", p.Name, err)
			}
			wrote(PartROOT, p.ConfDest, "sysupdate-config", "")
		}
		res.Sysexts = append(res.Sysexts, Installed{Name: p.Name, Partition: partLabel(p.Part), Path: p.Path,
			Link: p.Link, LinkTarget: p.LinkTarget, Conf: p.ConfDest, ConfSource: p.Conf, ConfFrom: p.ConfFrom,
			SHA256: sum, Size: p.Size})
	}
	if bp.Noop {
		if err := root.WriteFile(NoopConfPath, stringsReader(sysext.NoopConf), 0o644); err != nil {
			return nil, fmt.Errorf("installing noop.conf: %w", err)
		}
		wrote(PartROOT, NoopConfPath, "noop-config", "")
	}
	if !bp.extensions.empty() {
		if res.Extensions, err = installExtensions(root, bp.extensions, rep, wrote); err != nil {
			return nil, err
		}
	}
	for _, m := range bp.Masks {
		if err := root.Symlink("/dev/null", linkPath(m)); err != nil {
			return nil, fmt.Errorf("masking %s: %w", m, err)
		}
		wrote(PartROOT, linkPath(m), "mask", "/dev/null")
	}
	if bp.ignition != nil {
		if res.Ignition, err = installIgnition(editors[PartOEM], bp.ignition, o, bp.version, log); err != nil {
			return nil, err
		}
		wrote(PartOEM, provision.OEMConfigPath, "ignition-config", "")
	}
	if err := installUnits(root, bp.units, wrote); err != nil {
		return nil, err
	}
	if bp.kargs {
		var changed bool
		if res.KernelArgs, changed, err = installKernelArgs(editors[PartOEM], o, log); err != nil {
			return nil, err
		}
		if changed {
			wrote(PartOEM, provision.OEMGrubPath, "kernel-args", "")
		}
	}
	// OEM first: its rebuild is the step most likely to fail.
	if oem, ok := editors[PartOEM]; ok {
		if err := oem.Commit(ctx); err != nil {
			return nil, err
		}
		if b, ok := oem.(*partitions.Btrfs); ok {
			res.Warnings = append(res.Warnings, b.Lost()...)
		}
	}
	if err := root.Commit(ctx); err != nil {
		return nil, err
	}
	// After every write: what the bake put into ROOT, to keep across a reset.
	if res.ResetKeepPaths = ResetKeepPaths(res.Written); res.ResetKeepPaths != nil {
		log.Info(resetKeepLine(res.ResetKeepPaths))
	}
	return res, nil
}

func writeImage(ed partitions.Editor, p Placement, rep progress.Reporter) (string, error) {
	f, err := os.Open(p.File)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	c := rep.Counter("hashing "+filepath.Base(p.File), p.Size)
	if _, err := io.Copy(io.MultiWriter(h, counterWriter{c}), f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p.File, err)
	}
	c.Done()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := ed.WriteFile(p.Path, f, 0o644); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeLocal(ed partitions.Editor, src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return ed.WriteFile(dst, f, 0o644)
}

func partLabel(part string) string {
	if part == PartOEM {
		return flatcar.LabelOEM
	}
	return flatcar.LabelROOT
}

func otherPart(part string) string {
	if part == PartOEM {
		return "root:/opt/extensions/"
	}
	return "oem:/sysext/"
}

type counterWriter struct{ c progress.Counter }

func (w counterWriter) Write(b []byte) (int, error) { w.c.Add(int64(len(b))); return len(b), nil }
