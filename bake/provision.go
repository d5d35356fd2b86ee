package bake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"strings"

	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/provision"
)

// oemGrubKey is OEM /grub.cfg, where kernel arguments go.
var oemGrubKey = claimKey{PartOEM, provision.OEMGrubPath}

// KernelArgsResult reports the edit of OEM /grub.cfg.
type KernelArgsResult struct {
	Path      string   `json:"path"` // in OEM: /grub.cfg
	Added     []string `json:"added,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Effective []string `json:"effective"` // linux_append after the bake
}

// planProvision checks the kernel arguments and the automatic updates a
// bake asks for and claims their paths.
func (bp *bakePlan) planProvision(o Options) error {
	if len(o.KernelArgs) > 0 || len(o.KernelArgsRemove) > 0 {
		for _, v := range o.Vendors {
			// Live media put --kernel-arg on their boot entries' command
			// line; they have no OEM grub.cfg to remove arguments from.
			if v.Live() && len(o.KernelArgsRemove) > 0 {
				return fmt.Errorf("--kernel-arg-remove with --vendor %s: live media have no OEM /grub.cfg to remove kernel arguments from; bake the disk vendors only", v.Name)
			}
		}
		// Checks every argument (and one both added and removed).
		if _, err := provision.EditKernelArgs("", o.KernelArgs, o.KernelArgsRemove); err != nil {
			return err
		}
		bp.kargs = true
		if _, ok := bp.claims[oemGrubKey]; !ok {
			bp.claims[oemGrubKey] = "the kernel arguments (--kernel-arg)"
		}
	}
	if !o.Sysupdate {
		return nil
	}
	var names []string
	for _, p := range bp.Placements {
		if p.ConfDest != "" {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return errors.New("--sysupdate: no baked sysext has a sysupdate config (NAME.conf next to FILE or in the current directory, or downloaded with --fetch): nothing to update")
	}
	units, err := provision.SysupdateUnits(names)
	if err != nil {
		return fmt.Errorf("--sysupdate: %w", err)
	}
	for _, u := range units {
		if err := bp.claims.add(PartROOT, u.Path, "--sysupdate's "+path.Base(u.Path)); err != nil {
			return err
		}
	}
	bp.units = units
	return nil
}

// samePlanned reports that the image already has unit file k exactly as
// the bake writes it (a re-bake with --sysupdate).
func (bp *bakePlan) samePlanned(ed partitions.Editor, k claimKey) bool {
	if k.part != PartROOT {
		return false
	}
	for _, u := range bp.units {
		if u.Path != k.path {
			continue
		}
		fi, err := ed.Stat(k.path)
		if err != nil {
			return false
		}
		if u.LinkTarget != "" {
			return fi.Mode&fs.ModeSymlink != 0 && fi.LinkTarget == u.LinkTarget
		}
		if !fi.Mode.IsRegular() || fi.Size != int64(len(u.Content)) {
			return false
		}
		data, err := readAll(ed, k.path)
		return err == nil && data == u.Content
	}
	return false
}

// installKernelArgs merges the kernel arguments into OEM /grub.cfg,
// keeping its other lines; an image that already has them is left as is.
func installKernelArgs(oem partitions.Editor, o Options, log *slog.Logger) (*KernelArgsResult, bool, error) {
	old := ""
	fi, err := oem.Stat(provision.OEMGrubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, false, fmt.Errorf("checking the image's OEM %s: %w", provision.OEMGrubPath, err)
	case !fi.Mode.IsRegular():
		return nil, false, fmt.Errorf("the image's OEM %s is not a regular file (%v): remove it from the image first", provision.OEMGrubPath, fi.Mode.Type())
	default:
		r, err := oem.Open(provision.OEMGrubPath)
		if err != nil {
			return nil, false, fmt.Errorf("reading the image's OEM %s: %w", provision.OEMGrubPath, err)
		}
		data, err := io.ReadAll(io.LimitReader(r, provision.MaxGrubSize+1))
		r.Close()
		if err != nil {
			return nil, false, fmt.Errorf("reading the image's OEM %s: %w", provision.OEMGrubPath, err)
		}
		if len(data) > provision.MaxGrubSize {
			return nil, false, fmt.Errorf("the image's OEM %s is larger than %d MiB", provision.OEMGrubPath, provision.MaxGrubSize>>20)
		}
		old = string(data)
	}
	e, err := provision.EditKernelArgs(old, o.KernelArgs, o.KernelArgsRemove)
	if err != nil {
		return nil, false, err
	}
	for _, rm := range o.KernelArgsRemove {
		found := false
		for _, w := range e.Removed {
			found = found || w == rm || strings.HasPrefix(w, rm+"=")
		}
		if !found {
			log.Info(fmt.Sprintf("--kernel-arg-remove %s: the image's kernel arguments do not have it", rm))
		}
	}
	res := &KernelArgsResult{Path: provision.OEMGrubPath, Added: e.Added, Removed: e.Removed, Effective: e.Effective}
	log.Info(fmt.Sprintf("kernel arguments (OEM %s): %s", provision.OEMGrubPath, strings.Join(e.Effective, " ")))
	if !e.Changed {
		return res, false, nil
	}
	if err := oem.WriteFile(provision.OEMGrubPath, bytes.NewReader([]byte(e.Config)), 0o644); err != nil {
		return nil, false, fmt.Errorf("writing kernel arguments: %w", err)
	}
	return res, true, nil
}

// installUnits writes the automatic updates' timer link and drop-ins.
func installUnits(root partitions.Editor, units []provision.UnitFile, wrote func(part, p, kind, target string)) error {
	for _, u := range units {
		var err error
		if u.LinkTarget != "" {
			if fi, e := root.Stat(u.Path); e == nil && fi.Mode&fs.ModeSymlink != 0 && fi.LinkTarget == u.LinkTarget {
				err = nil // a re-bake: already there
			} else {
				err = root.Symlink(u.LinkTarget, u.Path)
			}
		} else {
			err = root.WriteFile(u.Path, strings.NewReader(u.Content), 0o644)
		}
		if err != nil {
			return fmt.Errorf("--sysupdate: writing %s: %w", u.Path, err)
		}
		wrote(PartROOT, u.Path, u.Kind, u.LinkTarget)
	}
	return nil
}

// ResetKeepPaths are `flatcar-reset --keep-paths` regular expressions
// (egrep, matched against whole paths) keeping the written ROOT paths,
// one per path: flatcar-reset wipes ROOT but what they match, and keeps
// the directories holding them (docs/provisioning.md). Nil when the bake
// wrote nothing into ROOT's /etc.
func ResetKeepPaths(written []Written) []string {
	var out []string
	etc := false
	seen := map[string]bool{}
	for _, w := range written {
		if w.Partition != partLabel(PartROOT) || seen[w.Path] {
			continue
		}
		seen[w.Path] = true
		etc = etc || strings.HasPrefix(w.Path, "/etc/")
		out = append(out, egrepQuote(w.Path))
	}
	if !etc {
		return nil
	}
	return out
}

// egrepQuote escapes the characters egrep (POSIX extended regular
// expressions) treats specially.
func egrepQuote(p string) string { return regexp.QuoteMeta(p) }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// resetKeepLine is the log line saying how to keep the bake's ROOT files
// across flatcar-reset.
func resetKeepLine(keep []string) string {
	q := make([]string, len(keep))
	for i, k := range keep {
		q[i] = shellQuote(k)
	}
	return "to keep what this bake put in /etc across flatcar-reset: flatcar-reset --keep-paths " + strings.Join(q, " ")
}
