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
	"sort"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sysext"
	"github.com/bake-os/bake-os/vendors"
)

// ImageName is the file name of the baked generic image.
const ImageName = "flatcar_production_image.bin"

// Options describes one bake.
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
	Reporter      progress.Reporter
	Logger        *slog.Logger

	imageGiven string // Image as the caller gave it, before downloads
}

// Installed reports one installed sysext.
type Installed struct {
	Name       string `json:"name"`
	Partition  string `json:"partition"`
	Path       string `json:"path"`
	Link       string `json:"link"`
	LinkTarget string `json:"link_target"`
	Conf       string `json:"sysupdate_conf,omitempty"`
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
}

// Run bakes. Every input is checked before the first write; the output is
// written to a temp file in OutputDir and renamed to
// OutputDir/flatcar_production_image.bin at the end.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.OutputDir == "" {
		o.OutputDir = "."
	}
	if o.Target == (Target{}) {
		o.Target, _ = ParseTarget(DefaultInstallTo)
	}
	if o.Arch == "" {
		o.Arch = flatcar.ArchX86_64
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkMasks(o.Masks, o.Sysexts); err != nil {
		return nil, err
	}
	o.imageGiven = o.Image
	ref, err := resolveRemote(ctx, &o)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(o.OutputDir, ImageName)
	if err := checkOutput(o.Image, out); err != nil {
		return nil, err
	}
	version := o.Version
	if version == "" {
		version = ReadVersionTxt(o.Image)
	}
	host := sysext.FlatcarHost(o.Arch, version)
	for _, s := range o.Sysexts {
		if _, err := checkFile("sysext "+s.Name, s.File); err != nil {
			return nil, err
		}
		rel, err := sysext.ReadRelease(s.File, s.Name)
		if err != nil {
			return nil, fmt.Errorf("sysext %s: %w", s.Name, err)
		}
		if err := sysext.Compatible(rel, host); err != nil {
			return nil, fmt.Errorf("sysext %s (%s): %w", s.Name, s.File, err)
		}
		if version == "" && rel.Get("ID") != "_any" && rel.Get("SYSEXT_LEVEL") == "" {
			return nil, fmt.Errorf("sysext %s matches by VERSION_ID=%s but the image's version is unknown: put its version.txt beside the image",
				s.Name, rel.Get("VERSION_ID"))
		}
	}
	if len(o.Vendors) > 0 {
		if err := preflightVendors(ctx, version, o, ref); err != nil {
			return nil, err
		}
	}
	placements, err := plan(o.Sysexts, o.Target, func(m string) { log.Warn(m) })
	if err != nil {
		return nil, err
	}
	for i := range placements {
		st, _ := os.Stat(placements[i].File)
		placements[i].Size = st.Size()
	}

	ahead := newVendorAhead(ctx, o)
	defer ahead.close()
	work, disk, err := workingCopy(ctx, o.Image, o.OutputDir, o.Workers, o.Reporter, ahead)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(work)
		}
	}()
	res, err := install(ctx, work, disk, placements, o)
	if err != nil {
		return nil, err
	}
	if len(o.Vendors) > 0 {
		if res.Artifacts, err = buildVendors(ctx, work, version, o, ref, ahead); err != nil {
			return nil, err
		}
		return res, nil // the deferred cleanup removes the working copy
	}
	if err := os.Chmod(work, 0o644); err != nil {
		return nil, fmt.Errorf("setting mode of %s: %w", work, err)
	}
	if err := os.Rename(work, out); err != nil {
		return nil, fmt.Errorf("moving baked image into place: %w", err)
	}
	ok = true
	res.Image = out
	return res, nil
}

func checkOutput(input, out string) error {
	a, err := os.Stat(input)
	if err != nil {
		return fmt.Errorf("image %s: %w", input, err)
	}
	if b, err := os.Stat(out); err == nil && os.SameFile(a, b) {
		return fmt.Errorf("output %s is the input image: choose another --output-dir (the input is never modified)", out)
	}
	if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return fmt.Errorf("output directory %s does not exist: create it first", filepath.Dir(out))
	}
	return nil
}

func checkMasks(masks []string, sysexts []Sysext) error {
	seen := map[string]bool{}
	for _, s := range sysexts {
		seen[s.Name] = true
	}
	for _, m := range masks {
		if err := sysext.ValidName(m); err != nil {
			return fmt.Errorf("--mask: %w", err)
		}
		if seen[m] {
			return fmt.Errorf("--mask %s: duplicate NAME %q (also a sysext or mask)", m, m)
		}
		seen[m] = true
	}
	return nil
}

// install does the writes into the working copy.
func install(ctx context.Context, work string, disk *gpt.Disk, placements []Placement, o Options) (*Result, error) {
	rootPart, err := disk.ByLabel(flatcar.LabelROOT)
	if err != nil {
		return nil, err
	}
	var root partitions.Editor
	if o.Mount {
		root, err = partitions.OpenMount(work, rootPart.Offset(), rootPart.Size(), partitions.FSExt4)
	} else {
		root, err = partitions.OpenExt4(work, rootPart.Offset(), partitions.Ext4Options{Epoch: o.Epoch})
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	editors := map[string]partitions.Editor{PartROOT: root}
	need := map[string]int64{}
	for _, p := range placements {
		need[p.Part] += p.Size
	}
	if need[PartOEM] > 0 {
		oemPart, err := disk.ByLabel(flatcar.LabelOEM)
		if err != nil {
			return nil, err
		}
		var oem partitions.Editor
		if o.Mount {
			oem, err = partitions.OpenMount(work, oemPart.Offset(), oemPart.Size(), partitions.FSBtrfs)
		} else {
			oem, err = partitions.OpenBtrfs(ctx, work, oemPart.Offset(), oemPart.Size(), partitions.BtrfsOptions{WorkDir: o.OutputDir})
		}
		if err != nil {
			return nil, err
		}
		defer oem.Close()
		editors[PartOEM] = oem
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
	res := &Result{Arch: string(o.Arch), Masks: o.Masks}
	rep := progress.OrNop(o.Reporter)
	for _, p := range placements {
		ed := editors[p.Part]
		sum, err := writeImage(ed, p, rep)
		if err != nil {
			return nil, fmt.Errorf("installing sysext %s: %w", p.Name, err)
		}
		if err := root.Symlink(p.LinkTarget, p.Link); err != nil {
			return nil, fmt.Errorf("linking sysext %s: %w", p.Name, err)
		}
		if p.Conf != "" {
			if err := writeLocal(root, p.Conf, p.ConfDest); err != nil {
				return nil, fmt.Errorf("installing sysupdate config of %s: %w", p.Name, err)
			}
		}
		res.Sysexts = append(res.Sysexts, Installed{Name: p.Name, Partition: partLabel(p.Part), Path: p.Path,
			Link: p.Link, LinkTarget: p.LinkTarget, Conf: p.ConfDest, SHA256: sum, Size: p.Size})
	}
	if anyConf(placements) {
		if err := root.WriteFile("/etc/sysupdate.d/noop.conf", stringsReader(sysext.NoopConf), 0o644); err != nil {
			return nil, fmt.Errorf("installing noop.conf: %w", err)
		}
	}
	masks := append([]string(nil), o.Masks...)
	sort.Strings(masks)
	for _, m := range masks {
		if err := root.Symlink("/dev/null", "/etc/extensions/"+m+".raw"); err != nil {
			return nil, fmt.Errorf("masking %s: %w", m, err)
		}
	}
	// OEM first: its rebuild is the step most likely to fail.
	if oem, ok := editors[PartOEM]; ok {
		if err := oem.Commit(ctx); err != nil {
			return nil, err
		}
	}
	if err := root.Commit(ctx); err != nil {
		return nil, err
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

func anyConf(ps []Placement) bool {
	for _, p := range ps {
		if p.Conf != "" {
			return true
		}
	}
	return false
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
