package sysextbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/osrelease"
)

// PackOptions say what to pack and how. Only Dir is required.
type PackOptions struct {
	Dir       string           // tree to pack (not modified)
	Name      string           // extension name (extension-release.NAME); default base(Dir)
	OS        string           // "_any" (default) or an os-release ID such as "flatcar"
	Arch      flatcar.Arch     // "" means: no ARCHITECTURE field
	Format    Format           // default squashfs
	Reload    bool             // EXTENSION_RELOAD_MANAGER=1
	Epoch     int64            // all timestamps (the caller reads SOURCE_DATE_EPOCH)
	Output    string           // output file; default NAME.raw in OutputDir
	OutputDir string           // directory of the default Output; default the current directory
	ExtFSSize int64            // ext formats only; 0 = computed
	Sysupdate bool             // also write NAME.conf beside Output
	Warn      func(msg string) // optional warnings sink (anything outside usr/ and opt/)

	// OEM, when set, packs Flatcar's OEM sysext for that OEM ID (qemu,
	// azure, ...): Name defaults to and must be oem-OEM, OS must be empty,
	// "_any" or "flatcar", Arch defaults to x86-64, and the metadata is
	// OEMExtensionRelease's.
	OEM string
	// Version is, with OEM, the Flatcar version the OEM sysext is for
	// (VERSION_ID); empty: SYSEXT_LEVEL=1.0, any version.
	Version string

	// BakeryURL and BakeryRelease set the sysupdate source directory
	// BakeryURL/BakeryRelease/ (defaults DefaultBakeryURL and Name).
	BakeryURL     string
	BakeryRelease string
}

// PackResult names what Pack wrote.
type PackResult struct {
	Output         string // the image
	SHA256         string // hex digest of the image
	SHA256SumsFile string // SHA256SUMS.NAME beside the image
	ConfFile       string // NAME.conf beside the image, when Sysupdate
}

// Pack packs o.Dir into a sysext image at o.Output with the
// extension-release file added, then writes SHA256SUMS.NAME (and NAME.conf
// with o.Sysupdate) beside it. All outputs are written to temporary files
// in the output directory and renamed at the end; an existing output is
// replaced.
func Pack(ctx context.Context, o PackOptions) (*PackResult, error) {
	j, err := resolvePack(&o)
	if err != nil {
		return nil, err
	}
	if err := checkTree(j.dir, o.Warn); err != nil {
		return nil, err
	}
	if err := j.mergeTreeRelease(o.Warn); err != nil {
		return nil, err
	}
	var conf string
	if o.Sysupdate {
		if conf, err = SysupdateConf(SysupdateOptions{Name: j.name, BakeryURL: o.BakeryURL, Release: o.BakeryRelease}); err != nil {
			return nil, err
		}
	}
	outDir := filepath.Dir(o.Output)
	scratch, err := atomicfile.MkdirTemp(outDir, j.name+".pack")
	if err != nil {
		return nil, fmt.Errorf("creating temporary directory for %s: %w", o.Output, err)
	}
	defer atomicfile.Remove(scratch)
	j.scratch = scratch
	j.out = filepath.Join(scratch, "image.raw")

	if err := writerFor(j.format)(ctx, j); err != nil {
		return nil, fmt.Errorf("packing %s as %s: %w", j.dir, j.format, err)
	}
	if err := os.Chmod(j.out, 0o644); err != nil {
		return nil, fmt.Errorf("setting mode of %s: %w", o.Output, err)
	}
	sum, err := sha256sums.File(j.out)
	if err != nil {
		return nil, err
	}
	res := &PackResult{
		Output:         o.Output,
		SHA256:         sum,
		SHA256SumsFile: filepath.Join(outDir, SHA256SumsName(j.name)),
	}
	renames := [][2]string{{j.out, o.Output}}
	sumsTmp := filepath.Join(scratch, "sums")
	sums := FormatSHA256Sums(map[string]string{filepath.Base(o.Output): sum})
	if err := os.WriteFile(sumsTmp, []byte(sums), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", res.SHA256SumsFile, err)
	}
	renames = append(renames, [2]string{sumsTmp, res.SHA256SumsFile})
	if o.Sysupdate {
		res.ConfFile = filepath.Join(outDir, SysupdateConfName(j.name))
		confTmp := filepath.Join(scratch, "conf")
		if err := os.WriteFile(confTmp, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", res.ConfFile, err)
		}
		renames = append(renames, [2]string{confTmp, res.ConfFile})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range renames {
		if err := os.Rename(r[0], r[1]); err != nil {
			return nil, fmt.Errorf("renaming %s into place: %w", r[1], err)
		}
	}
	return res, nil
}

// resolvePack fills defaults into o and validates it before any work.
func resolvePack(o *PackOptions) (*packJob, error) {
	if o.Dir == "" {
		return nil, errors.New("no sysext tree given: pass the directory to pack")
	}
	dir := filepath.Clean(o.Dir)
	if o.OEM != "" {
		if err := validOEMID(o.OEM); err != nil {
			return nil, err
		}
		want := OEMName(o.OEM)
		if o.Name != "" && o.Name != want {
			return nil, fmt.Errorf("the OEM sysext for %s is named %s, not %s: drop the name or use %s", o.OEM, want, o.Name, want)
		}
		o.Name = want
		if o.OS != "" && o.OS != AnyOS && o.OS != FlatcarOSID {
			return nil, fmt.Errorf("an OEM sysext is for Flatcar (ID=flatcar), not %q: drop the OS option", o.OS)
		}
		o.OS = FlatcarOSID
		o.Reload = true
		if o.Arch == "" {
			o.Arch = flatcar.ArchX86_64
		}
	} else if o.Version != "" {
		return nil, errors.New("a version applies to OEM sysexts only: add the OEM ID or drop the version")
	}
	if o.Name == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", dir, err)
		}
		o.Name = filepath.Base(abs)
	}
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	if o.OS == "" {
		o.OS = AnyOS
	}
	f, err := ParseFormat(string(o.Format))
	if err != nil {
		return nil, err
	}
	o.Format = f
	for _, t := range f.Tools() {
		if _, err := lookTool(t); err != nil {
			return nil, fmt.Errorf("packing %s needs %s: %w", f, t, err)
		}
	}
	if o.Epoch < 0 || o.Epoch > math.MaxUint32 {
		return nil, fmt.Errorf("invalid epoch %d: use seconds since 1970 (0 to %d)", o.Epoch, uint32(math.MaxUint32))
	}
	if o.ExtFSSize < 0 {
		return nil, fmt.Errorf("invalid ext filesystem size %d: use a positive size or 0 to compute it", o.ExtFSSize)
	}
	if o.ExtFSSize != 0 && f != FormatExt4 && f != FormatExt2 {
		return nil, fmt.Errorf("an ext filesystem size was given for format %s: it applies to ext4 and ext2 only", f)
	}
	if o.Output == "" {
		o.Output = filepath.Join(o.OutputDir, o.Name+".raw")
	}
	absDir, err1 := filepath.Abs(dir)
	absOut, err2 := filepath.Abs(o.Output)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("resolving paths: %w", err)
	}
	if r, err := filepath.Rel(absDir, absOut); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("output %s is inside the sysext tree %s: write it elsewhere (--output)", o.Output, dir)
	}
	var rel *osrelease.Release
	if o.OEM != "" {
		rel, err = OEMExtensionRelease(o.OEM, o.Version, o.Arch)
	} else {
		rel, err = ExtensionRelease(o.OS, o.Arch, o.Reload)
	}
	if err != nil {
		return nil, err
	}
	return &packJob{
		dir:     dir,
		name:    o.Name,
		release: []byte(rel.String()),
		epoch:   o.Epoch,
		extSize: o.ExtFSSize,
		uuid:    fixedUUID("fs", o.Name, string(f)),
		format:  f,
	}, nil
}

// mergeTreeRelease keeps an extension-release.NAME the tree already has:
// the generated fields are merged into it (see mergeRelease), never
// replacing it silently. It must be a regular file.
func (j *packJob) mergeTreeRelease(warn func(string)) error {
	p := filepath.Join(j.dir, filepath.FromSlash(ExtensionReleasePath(j.name)))
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("checking %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: make it one or remove it", p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	gen, err := osrelease.Parse(bytes.NewReader(j.release))
	if err != nil {
		return fmt.Errorf("reading generated extension-release: %w", err)
	}
	merged, err := mergeRelease(data, p, gen)
	if err != nil {
		return err
	}
	if out := merged.String(); out != string(data) && warn != nil {
		warn(fmt.Sprintf("%s: kept its fields and added the generated ones", p))
	}
	j.release = []byte(merged.String())
	return nil
}

// fixedUUID derives a stable RFC 4122 (version 4 layout) UUID from parts,
// so that repacks of the same extension get the same filesystem UUID.
func fixedUUID(parts ...string) string {
	h := sha256.New()
	h.Write([]byte("bake-os sysext"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
