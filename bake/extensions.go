package bake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/sysext"
)

// Flatcar's optional extensions (docs/provisioning.md): the initrd
// enables every NAME listed in EnabledSysextConf by linking
// /etc/extensions/flatcar-NAME.raw to
// /etc/flatcar/sysext/flatcar-NAME-VERSION.raw, and downloads that file
// first when it is missing.
const (
	// EnabledSysextConf is ROOT's list of enabled Flatcar extensions: one
	// NAME a line, "-NAME" disables a NAME the /usr defaults enable.
	EnabledSysextConf = "/etc/flatcar/enabled-sysext.conf"
	// FlatcarSysextDir is where the initrd looks for an extension's image.
	FlatcarSysextDir = "/etc/flatcar/sysext"
	// maxEnabledConf caps the enabled-sysext.conf bake-os reads.
	maxEnabledConf = 1 << 20
)

// baseExtensions are the extensions every Flatcar enables from /usr as
// NAME-flatcar.raw: disabling one also needs the mask
// /etc/extensions/NAME-flatcar.raw -> /dev/null.
var baseExtensions = []string{"containerd", "docker"}

var enabledConfKey = claimKey{PartROOT, EnabledSysextConf}

// extensionFileName is the release file of Flatcar extension name, and
// extensionName the sysext name it carries (extension-release.NAME).
func extensionFileName(name string) string { return extensionName(name) + ".raw" }
func extensionName(name string) string     { return "flatcar-" + name }

// extensionImagePath is where the initrd looks for name of version.
func extensionImagePath(name, version string) string {
	return FlatcarSysextDir + "/" + extensionName(name) + "-" + version + ".raw"
}

// baseMask is the mask disabling base extension name, or "".
func baseMask(name string) string {
	if slices.Contains(baseExtensions, name) {
		return name + "-flatcar"
	}
	return ""
}

// ExtensionsResult reports what a bake did about Flatcar's extensions.
type ExtensionsResult struct {
	Conf     string   `json:"conf"` // ROOT /etc/flatcar/enabled-sysext.conf
	Enabled  []string `json:"enabled,omitempty"`
	Disabled []string `json:"disabled,omitempty"`
	// Masks are the NAME-flatcar masks the disabled base extensions need.
	Masks []string `json:"masks,omitempty"`
	// Placed are the verified images pre-placed for the first boot;
	// Deferred the enabled names the first boot downloads itself (the
	// image's release was unknown).
	Placed   []PlacedExtension `json:"placed,omitempty"`
	Deferred []string          `json:"deferred,omitempty"`
}

// PlacedExtension is one pre-placed Flatcar extension image.
type PlacedExtension struct {
	Name       string `json:"name"` // as given: zfs
	Path       string `json:"path"` // in ROOT
	Link       string `json:"link"`
	LinkTarget string `json:"link_target"`
	Source     string `json:"source"` // the release URL
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
}

// extensionPlan is what a bake writes for Flatcar's extensions.
type extensionPlan struct {
	enable, disable []string // sorted, unique
	version         string   // the image's Flatcar version, "" if unknown
	// unreleased says why version names no release (a development build).
	unreleased string
	// files are the images to pre-place (version known), filled with the
	// verified downloads by fetchExtensions.
	files []extensionFile
}

type extensionFile struct {
	name, path, link string
	local, url       string
	size             int64
}

func (e *extensionPlan) empty() bool { return e == nil || len(e.enable)+len(e.disable) == 0 }

// bytes is what the pre-placed images need in ROOT.
func (e *extensionPlan) bytes() int64 {
	var n int64
	if e != nil {
		for _, f := range e.files {
			n += f.size
		}
	}
	return n
}

// replacedNames are the sysext names whose old links and images in the
// image go: a pre-placed extension of an earlier bake (replaced by the
// new one, or disabled now).
func (e *extensionPlan) replacedNames() []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, f := range e.files {
		out = append(out, extensionName(f.name))
	}
	for _, n := range e.disable {
		out = append(out, extensionName(n))
	}
	return out
}

// CheckExtensions checks --enable-extension and --disable-extension
// names before any work: valid, and no name both enabled and disabled.
func CheckExtensions(enable, disable []string, sysexts []Sysext, masks []string) error {
	dis := map[string]bool{}
	for _, n := range disable {
		if err := sysext.ValidName(n); err != nil {
			return fmt.Errorf("--disable-extension: %w", err)
		}
		dis[n] = true
	}
	for _, n := range enable {
		if err := sysext.ValidName(n); err != nil {
			return fmt.Errorf("--enable-extension: %w", err)
		}
		if dis[n] {
			return fmt.Errorf("--enable-extension %s and --disable-extension %s contradict each other: keep one", n, n)
		}
		// Also when the link is not written (release unknown): the first
		// boot would replace the sysext's link with the extension's.
		for _, s := range sysexts {
			if s.Name == extensionName(n) {
				return fmt.Errorf("sysext %s and --enable-extension %s are both %s: rename the sysext (one path, one owner)", s.Name, n, linkPath(s.Name))
			}
		}
		if slices.Contains(masks, extensionName(n)) {
			return fmt.Errorf("--mask %s would mask --enable-extension %s (%s): keep one", extensionName(n), n, linkPath(extensionName(n)))
		}
	}
	return nil
}

// planExtensions claims what o's extensions write: enabled-sysext.conf
// and, with the version known, each enabled extension's image and link.
// The masks of disabled base extensions are claimed with bp.Masks.
func (bp *bakePlan) planExtensions(o Options, version string) error {
	if len(o.EnableExtensions)+len(o.DisableExtensions) == 0 {
		return nil
	}
	e := &extensionPlan{enable: uniqueSorted(o.EnableExtensions), disable: uniqueSorted(o.DisableExtensions), version: version}
	bp.extensions = e
	if err := bp.claims.add(PartROOT, EnabledSysextConf, "--enable-extension/--disable-extension's "+path.Base(EnabledSysextConf)); err != nil {
		return err
	}
	if version == "" {
		return nil
	}
	if _, err := flatcar.ParseVersion(version); err != nil {
		// A development build: no release directory to download from.
		e.unreleased = err.Error()
		return nil
	}
	for _, n := range e.enable {
		who := "--enable-extension " + n
		f := extensionFile{name: n, path: extensionImagePath(n, version), link: linkPath(extensionName(n))}
		if err := bp.claims.add(PartROOT, f.path, who+"'s image"); err != nil {
			return err
		}
		if err := bp.claims.add(PartROOT, f.link, who+"'s link"); err != nil {
			return err
		}
		e.files = append(e.files, f)
	}
	return nil
}

// extensionMasks adds the masks of disabled base extensions to masks and
// names who asks for each mask (a --mask of the same name is the same
// claim, written once).
func extensionMasks(o Options) (masks []string, owner map[string]string) {
	owner = map[string]string{}
	for _, m := range o.Masks {
		owner[m] = "--mask " + m
	}
	for _, n := range o.DisableExtensions {
		if m := baseMask(n); m != "" {
			if _, ok := owner[m]; !ok {
				owner[m] = "--disable-extension " + n
			}
		}
	}
	for m := range owner {
		masks = append(masks, m)
	}
	sort.Strings(masks)
	return masks, owner
}

func uniqueSorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return slices.Compact(out)
}

// fetchExtensions downloads (or finds in the cache) each enabled
// extension of the image's release, verified with the release's signing
// key (and .DIGESTS when served), and checks that it is the sysext
// flatcar-NAME for this image. ref is the release when the image was
// downloaded; else the release is the image's version.
func (bp *bakePlan) fetchExtensions(ctx context.Context, j *job) error {
	o, ref, log := j.o, j.ref, j.log
	e := bp.extensions
	if e.empty() {
		return nil
	}
	if e.version == "" || e.unreleased != "" {
		why := "the image's Flatcar version is unknown (no version.txt beside it)"
		if e.unreleased != "" {
			why = "the image's Flatcar version names no release (" + e.unreleased + ")"
		}
		if len(e.enable) > 0 {
			log.Warn(fmt.Sprintf("%s: enabled %s in %s only; the first boot downloads %s (needs network)",
				why, strings.Join(e.enable, ", "), EnabledSysextConf, strings.Join(e.enable, ", ")))
		}
		return nil
	}
	if len(e.files) == 0 {
		return nil
	}
	fo := o.Remote.Fetch
	fo.Arch = j.arch
	if fo.Reporter == nil {
		fo.Reporter = o.Reporter
	}
	var r fetch.ReleaseRef
	if ref != nil && ref.Version == e.version && ref.Board == j.arch.Board() {
		r = *ref
	} else {
		fo.Release = e.version
		var err error
		if r, err = fetch.ResolveRelease(ctx, fo); err != nil {
			return fmt.Errorf("--enable-extension: the image's release %s: %w", e.version, err)
		}
	}
	host := sysext.FlatcarHost(j.arch, e.version)
	for i := range e.files {
		f := &e.files[i]
		file := extensionFileName(f.name)
		f.url = r.URL(file)
		p, err := fetch.FetchReleaseFile(ctx, fo, r, file)
		if errors.Is(err, fetch.ErrNotFound) {
			return fmt.Errorf("release %s (%s) has no extension %s: %s is not on the server; see the release's directory %s/ for the flatcar-*.raw it publishes",
				r.Version, r.Board, f.name, file, r.BaseURL)
		}
		if err != nil {
			return fmt.Errorf("fetching extension %s of release %s: %w", f.name, r.Version, err)
		}
		rel, err := extensionRelease(ctx, p, extensionName(f.name))
		if err != nil {
			return fmt.Errorf("extension %s of release %s (%s): %w", f.name, r.Version, file, err)
		}
		if err := sysext.Compatible(rel, host); err != nil {
			return fmt.Errorf("extension %s of release %s (%s) does not fit the image: %w", f.name, r.Version, file, err)
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		f.local, f.size = p, st.Size()
	}
	return nil
}

// maxDDIPartitions bounds the partitions of a disk-image extension
// bake-os looks through.
const maxDDIPartitions = 16

// extensionRelease reads the extension-release name of the extension
// image p: a plain sysext filesystem, or a disk image (DDI: a GPT whose
// root partition holds the filesystem, beside its dm-verity data and
// signature), as Flatcar builds its extensions since late 2025. Each
// partition's head is sniffed; the first that holds a filesystem
// systemd-sysext reads is copied out sparsely ($TMPDIR) and read.
func extensionRelease(ctx context.Context, p, name string) (*osrelease.Release, error) {
	if _, err := sysext.DetectFormat(p); err == nil {
		return sysext.ReadRelease(p, name)
	}
	disk, err := gpt.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%s is neither a sysext filesystem (squashfs, erofs, ext4, btrfs) nor a disk image: %w", p, err)
	}
	if len(disk.Partitions) > maxDDIPartitions {
		return nil, fmt.Errorf("%s is a disk image with %d partitions: not a sysext disk image", p, len(disk.Partitions))
	}
	src, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	work, err := atomicfile.MkdirTemp("", "ddi")
	if err != nil {
		return nil, fmt.Errorf("creating a work directory for %s: %w", p, err)
	}
	defer atomicfile.Remove(work)
	for i, part := range disk.Partitions {
		out := filepath.Join(work, fmt.Sprintf("part%d.img", i))
		head := out + ".head"
		if err := sparse.Extract(ctx, head, src, part.Offset(), min(part.Size(), int64(0x10048))); err != nil {
			return nil, fmt.Errorf("reading partition %d of %s: %w", part.Number, p, err)
		}
		if _, err := sysext.DetectFormat(head); err != nil {
			continue // dm-verity data, its signature
		}
		if err := sparse.Extract(ctx, out, src, part.Offset(), part.Size()); err != nil {
			return nil, fmt.Errorf("reading partition %d of %s: %w", part.Number, p, err)
		}
		rel, err := sysext.ReadRelease(out, name)
		if err != nil {
			return nil, fmt.Errorf("partition %d of disk image %s: %w", part.Number, p, err)
		}
		return rel, nil
	}
	return nil, fmt.Errorf("disk image %s has no partition with a sysext filesystem (squashfs, erofs, ext4, btrfs)", p)
}

// installExtensions writes enabled-sysext.conf (merged with the image's)
// and pre-places the verified extension images with their links.
func installExtensions(root partitions.Editor, e *extensionPlan, rep progress.Reporter, wrote func(part, p, kind, target string)) (*ExtensionsResult, error) {
	res := &ExtensionsResult{Conf: EnabledSysextConf, Enabled: e.enable, Disabled: e.disable}
	old := ""
	fi, err := root.Stat(EnabledSysextConf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("checking the image's %s: %w", EnabledSysextConf, err)
	case !fi.Mode.IsRegular():
		return nil, fmt.Errorf("the image's %s is not a regular file (%v): remove it from the image first", EnabledSysextConf, fi.Mode.Type())
	case fi.Size > maxEnabledConf:
		return nil, fmt.Errorf("the image's %s is larger than %d MiB: not an extension list", EnabledSysextConf, maxEnabledConf>>20)
	default:
		if old, err = readAll(root, EnabledSysextConf); err != nil {
			return nil, fmt.Errorf("reading the image's %s: %w", EnabledSysextConf, err)
		}
	}
	conf := MergeEnabledSysextConf(old, e.enable, e.disable)
	if err := root.WriteFile(EnabledSysextConf, strings.NewReader(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", EnabledSysextConf, err)
	}
	wrote(PartROOT, EnabledSysextConf, "extension-config", "")
	for _, n := range e.disable {
		if m := baseMask(n); m != "" {
			res.Masks = append(res.Masks, m)
		}
	}
	placed := map[string]bool{}
	for _, f := range e.files {
		sum, err := writeImage(root, Placement{Sysext: Sysext{Name: extensionName(f.name), File: f.local}, Part: PartROOT, Path: f.path, Size: f.size}, rep)
		if err != nil {
			return nil, fmt.Errorf("pre-placing extension %s: %w", f.name, err)
		}
		wrote(PartROOT, f.path, "extension-image", "")
		if err := root.Symlink(f.path, f.link); err != nil {
			return nil, fmt.Errorf("linking extension %s: %w", f.name, err)
		}
		wrote(PartROOT, f.link, "extension-link", f.path)
		res.Placed = append(res.Placed, PlacedExtension{Name: f.name, Path: f.path, Link: f.link, LinkTarget: f.path,
			Source: f.url, SHA256: sum, Size: f.size})
		placed[f.name] = true
	}
	for _, n := range e.enable {
		if !placed[n] {
			res.Deferred = append(res.Deferred, n)
		}
	}
	return res, nil
}

// MergeEnabledSysextConf returns the enabled-sysext.conf old with the
// names of enable listed and those of disable as "-NAME": lines and
// comments of old stay, a line that contradicts (NAME for a disabled
// name, -NAME for an enabled one) goes, and a name already listed is not
// added again, so merging twice changes nothing.
func MergeEnabledSysextConf(old string, enable, disable []string) string {
	var lines []string
	if old != "" {
		lines = strings.Split(strings.TrimSuffix(old, "\n"), "\n")
	}
	drop := map[string]bool{}
	for _, n := range enable {
		drop["-"+n] = true
	}
	for _, n := range disable {
		drop[n] = true
	}
	have := map[string]bool{}
	kept := lines[:0]
	for _, l := range lines {
		entry, _, _ := strings.Cut(l, "#")
		entry = strings.TrimSpace(entry)
		if drop[entry] {
			continue
		}
		have[entry] = true
		kept = append(kept, l)
	}
	for _, n := range enable {
		if !have[n] {
			kept = append(kept, n)
			have[n] = true
		}
	}
	for _, n := range disable {
		if !have["-"+n] {
			kept = append(kept, "-"+n)
			have["-"+n] = true
		}
	}
	if len(kept) == 0 {
		return ""
	}
	return strings.Join(kept, "\n") + "\n"
}

// FlatcarExtensionsInfo is what an image holds of Flatcar's optional
// extensions: ROOT's enabled-sysext.conf and the pre-placed images.
type FlatcarExtensionsInfo struct {
	Conf    string   `json:"conf,omitempty"` // the file's content
	Enabled []string `json:"enabled,omitempty"`
	// Disabled are the "-NAME" entries.
	Disabled []string `json:"disabled,omitempty"`
	// Images are the files in /etc/flatcar/sysext.
	Images []string `json:"images,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// inspectFlatcarExtensions reads enabled-sysext.conf and lists
// /etc/flatcar/sysext of ROOT; nil when the image has neither.
func inspectFlatcarExtensions(root partitions.Editor) *FlatcarExtensionsInfo {
	info := &FlatcarExtensionsInfo{}
	found := false
	if fi, err := root.Stat(EnabledSysextConf); err == nil {
		found = true
		switch {
		case !fi.Mode.IsRegular():
			info.Error = EnabledSysextConf + " is not a regular file"
		default:
			data, err := readAll(root, EnabledSysextConf)
			if err != nil {
				info.Error = err.Error()
			}
			info.Conf = data
			for _, l := range strings.Split(data, "\n") {
				entry, _, _ := strings.Cut(l, "#")
				entry = strings.TrimSpace(entry)
				if n, ok := strings.CutPrefix(entry, "-"); ok {
					info.Disabled = append(info.Disabled, n)
				} else if entry != "" {
					info.Enabled = append(info.Enabled, entry)
				}
			}
		}
	}
	if ents, err := root.ReadDir(FlatcarSysextDir); err == nil {
		found = true
		for _, e := range ents {
			info.Images = append(info.Images, path.Join(FlatcarSysextDir, e.Name))
		}
	}
	if !found {
		return nil
	}
	return info
}
