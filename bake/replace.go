package bake

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sysext"
)

// oldExt is an extension entry the input image already has in one of the
// directories systemd-sysext reads.
type oldExt struct {
	Name   string
	Entry  string // /etc/extensions/NAME.raw
	Target string // the link target as written, "" for a plain image
	Masked bool
	// image is the resolved image in ROOT or OEM; zero when masked or
	// outside both (e.g. in USR-A).
	image claimKey
}

// readExisting lists the extensions in ROOT's /etc/extensions and
// /var/lib/extensions (/run is a tmpfs at runtime: ROOT has none there).
func readExisting(root partitions.Editor) ([]oldExt, error) {
	var out []oldExt
	for _, dir := range sysext.Dirs {
		if dir == "/run/extensions" {
			continue
		}
		ents, err := root.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's %s: %w", dir, err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name, ".raw") || e.Name == ".raw" {
				continue
			}
			x := oldExt{Name: strings.TrimSuffix(e.Name, ".raw"), Entry: path.Join(dir, e.Name)}
			switch {
			case e.Mode&fs.ModeSymlink != 0:
				x.Target = e.LinkTarget
				t := e.LinkTarget
				if !path.IsAbs(t) {
					t = path.Join(dir, t)
				}
				t = path.Clean(t)
				if t == "/dev/null" {
					x.Masked = true
				} else if rel, ok := inPartition(PartOEM, t); ok {
					x.image = claimKey{PartOEM, rel}
				} else if rel, ok := inPartition(PartROOT, t); ok {
					x.image = claimKey{PartROOT, rel}
				}
			case e.Mode.IsRegular():
				x.image = claimKey{PartROOT, x.Entry}
			default:
				continue // a directory extension: not ours to replace
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// Replaced reports an extension or mask the image had under a NAME the
// bake installs or masks.
type Replaced struct {
	Name string `json:"name"`
	// Was is what the old entry was: "sysext linked by LINK to TARGET",
	// "mask LINK", "sysext image PATH",
	// or "sysupdate config" (a conf dir without a link).
	Was         []string `json:"was"`
	Removed     []string `json:"removed,omitempty"`     // PART:PATH deleted
	Overwritten []string `json:"overwritten,omitempty"` // PART:PATH written anew
	Kept        []string `json:"kept,omitempty"`        // PART:PATH left, with why
}

type replacement struct {
	Replaced
	removals []claimKey
}

func (r replacement) summary() string {
	s := fmt.Sprintf("replacing the image's %s (%s)", r.Name, strings.Join(r.Was, "; "))
	if len(r.Removed) > 0 {
		s += ": removed " + strings.Join(r.Removed, ", ")
	}
	if len(r.Overwritten) > 0 {
		s += "; overwrote " + strings.Join(r.Overwritten, ", ")
	}
	if len(r.Kept) > 0 {
		s += "; kept " + strings.Join(r.Kept, ", ")
	}
	return s
}

type replacements struct {
	list []replacement
	// old marks every path of the image's replaced extensions: they may
	// be overwritten.
	old map[claimKey]bool
}

func (rs replacements) touches(part string) bool {
	for _, r := range rs.list {
		for _, k := range r.removals {
			if k.part == part {
				return true
			}
		}
	}
	return false
}

// replacements finds, for every NAME the bake installs or masks, the
// image's old link, the image it points at and its sysupdate config dir:
// all of it goes, so that the old version can neither stay merged nor be
// updated back in by systemd-sysupdate. An old image another remaining
// link still uses is kept.
func (bp *bakePlan) replacements(root partitions.Editor, old []oldExt) (replacements, error) {
	rs := replacements{old: map[claimKey]bool{}}
	names := map[string]bool{}
	for _, p := range bp.Placements {
		names[p.Name] = true
	}
	for _, m := range bp.Masks {
		names[m] = true
	}
	for _, n := range bp.extensions.replacedNames() {
		names[n] = true
	}
	// Images still used by extensions that stay.
	used := map[claimKey]string{}
	for _, x := range old {
		if !names[x.Name] && x.image != (claimKey{}) {
			used[x.image] = x.Entry
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		r := replacement{Replaced: Replaced{Name: name}}
		drop := func(k claimKey) {
			rs.old[k] = true
			if _, mine := bp.claims[k]; mine {
				r.Overwritten = append(r.Overwritten, k.String())
				return
			}
			r.Removed = append(r.Removed, k.String())
			r.removals = append(r.removals, k)
		}
		for _, x := range old {
			if x.Name != name {
				continue
			}
			switch {
			case x.Masked:
				r.Was = append(r.Was, "mask "+x.Entry)
			case x.Target == "":
				r.Was = append(r.Was, "sysext image "+x.Entry)
			default:
				r.Was = append(r.Was, "sysext linked by "+x.Entry+" to "+x.Target)
			}
			drop(claimKey{PartROOT, x.Entry})
			if x.image == (claimKey{}) || x.image.path == x.Entry {
				continue
			}
			if other, ok := used[x.image]; ok {
				r.Kept = append(r.Kept, x.image.String()+" (also used by "+other+")")
				continue
			}
			if x.image.part == PartROOT {
				// Only a file or link of its own: never a directory.
				fi, err := root.Stat(x.image.path)
				if err != nil {
					continue // a dangling link
				}
				if fi.Mode.IsDir() {
					r.Kept = append(r.Kept, x.image.String()+" (a directory)")
					continue
				}
			}
			// An OEM image that is gone makes Remove fail: checkExisting
			// drops such removals once OEM is open.
			drop(x.image)
		}
		dir := confDir(name)
		confs, err := root.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rs, fmt.Errorf("reading the image's %s: %w", dir, err)
		}
		if len(confs) > 0 && len(r.Was) == 0 {
			r.Was = append(r.Was, "sysupdate config "+dir)
		}
		emptied := true
		for _, c := range confs {
			k := claimKey{PartROOT, path.Join(dir, c.Name)}
			if c.Mode.IsDir() {
				r.Kept = append(r.Kept, k.String()+" (a directory)")
				emptied = false
				continue
			}
			drop(k)
			if _, mine := bp.claims[k]; mine {
				emptied = false
			}
		}
		if err == nil && emptied && !bp.hasConf(name) {
			drop(claimKey{PartROOT, dir})
		}
		// Its --sysupdate drop-in: it would update a component that is gone.
		if k := (claimKey{PartROOT, path.Join(provision.SysupdateDropInDir, name+".conf")}); len(r.Was) > 0 {
			if data, err := readAll(root, k.path); err == nil && data == provision.SysupdateDropIn(name) {
				drop(k)
			}
		}
		if len(r.Was) > 0 && !r.remask(bp, name) {
			rs.list = append(rs.list, r)
		}
	}
	if err := rs.dropOrphanNoop(root, bp); err != nil {
		return rs, err
	}
	return rs, nil
}

// dropOrphanNoop removes /etc/sysupdate.d/noop.conf when the replaced
// confs were the image's last /etc/sysupdate.NAME.d and the bake writes
// none: it exists only to let systemd-sysupdate run beside them. A
// noop.conf that is not the one bake-os writes is left alone.
func (rs *replacements) dropOrphanNoop(root partitions.Editor, bp *bakePlan) error {
	if bp.Noop || len(rs.list) == 0 {
		return nil
	}
	var owner *replacement // the replacement that removed a conf dir
	for i := range rs.list {
		for _, k := range rs.list[i].removals {
			if owner == nil && strings.HasPrefix(k.path, "/etc/sysupdate.") && path.Dir(k.path) == "/etc" {
				owner = &rs.list[i]
			}
		}
	}
	if owner == nil {
		return nil
	}
	ents, err := root.ReadDir("/etc")
	if err != nil {
		return fmt.Errorf("reading the image's /etc: %w", err)
	}
	for _, e := range ents {
		k := claimKey{PartROOT, "/etc/" + e.Name}
		if e.Mode.IsDir() && strings.HasPrefix(e.Name, "sysupdate.") && strings.HasSuffix(e.Name, ".d") && e.Name != "sysupdate.d" && !rs.old[k] {
			return nil // another extension's confs remain
		}
	}
	noop := claimKey{PartROOT, NoopConfPath}
	if fi, err := root.Stat(NoopConfPath); err != nil || !fi.Mode.IsRegular() || fi.Size != int64(len(sysext.NoopConf)) {
		return nil
	}
	data, err := readAll(root, NoopConfPath)
	if err != nil || data != sysext.NoopConf {
		return nil
	}
	owner.Removed = append(owner.Removed, noop.String())
	owner.removals = append(owner.removals, noop)
	rs.old[noop] = true
	return nil
}

// remask reports a mask baked over the same mask: nothing to say.
func (r replacement) remask(bp *bakePlan, name string) bool {
	masked := false
	for _, m := range bp.Masks {
		masked = masked || m == name
	}
	return masked && len(r.Was) == 1 && r.Was[0] == "mask "+linkPath(name) && len(r.removals) == 0
}

func (bp *bakePlan) hasConf(name string) bool {
	for _, p := range bp.Placements {
		if p.Name == name && p.ConfDest != "" {
			return true
		}
	}
	return false
}

// checkExisting refuses a claimed path the image already has unless it
// belongs to an extension being replaced (or is noop.conf, which every
// bake writes alike), and drops removals of OEM images that are gone.
func (bp *bakePlan) checkExisting(editors map[string]partitions.Editor, old []oldExt, rs replacements) error {
	users := map[claimKey]string{}
	for _, x := range old {
		if x.image != (claimKey{}) {
			users[x.image] = x.Entry
		}
	}
	keys := make([]claimKey, 0, len(bp.claims))
	for k := range bp.claims {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		ed, ok := editors[k.part]
		if !ok {
			continue
		}
		if d, what, err := badParent(ed, k.path); err != nil {
			return fmt.Errorf("checking the image's %s: %w", k, err)
		} else if d != "" {
			return fmt.Errorf("%s (%s): the image's %s is %s; bake-os never writes through it (remove it from the image or choose another --install_to)",
				bp.claims[k], k, claimKey{k.part, d}, what)
		}
		if rs.old[k] || k == (claimKey{PartROOT, NoopConfPath}) || k == oemConfigKey || k == oemGrubKey || k == enabledConfKey || bp.samePlanned(ed, k) {
			continue // replaced as planned; config.ign, grub.cfg, enabled-sysext.conf: merged by their installers; --sysupdate's files as written before
		}
		fi, err := ed.Stat(k.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking the image's %s: %w", k, err)
		}
		owner := bp.claims[k]
		if u, ok := users[k]; ok {
			return fmt.Errorf("%s would overwrite %s, the image of the image's extension %s: rename the file or choose another --install_to", owner, k, u)
		}
		what := "a file"
		switch {
		case fi.Mode.IsDir():
			what = "a directory"
		case fi.Mode&fs.ModeSymlink != 0:
			what = "a symlink to " + fi.LinkTarget
		}
		return fmt.Errorf("%s would overwrite %s, %s the image already has: rename the file or choose another --install_to", owner, k, what)
	}
	for i := range rs.list {
		r := &rs.list[i]
		kept := r.removals[:0]
		r.Removed = nil
		for _, k := range r.removals {
			ed, ok := editors[k.part]
			if !ok {
				continue
			}
			if d, what, err := badParent(ed, k.path); err != nil || d != "" {
				r.Kept = append(r.Kept, fmt.Sprintf("%s (the image's %s is %s)", k, claimKey{k.part, d}, what))
				continue
			}
			if _, err := ed.Stat(k.path); err != nil {
				continue // gone already
			}
			kept = append(kept, k)
			r.Removed = append(r.Removed, k.String())
		}
		r.removals = kept
	}
	return nil
}

// badParent finds the first parent directory of p in ed that exists but
// is not a plain directory (a symlink, a file): writing or removing
// through it would land elsewhere, in the image or, for OEM's unpacked
// tree, on this machine.
func badParent(ed partitions.Editor, p string) (dir, what string, err error) {
	var dirs []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		fi, err := ed.Stat(dirs[i])
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", nil
		}
		if err != nil {
			return "", "", err
		}
		switch {
		case fi.Mode&fs.ModeSymlink != 0:
			return dirs[i], "a symlink to " + fi.LinkTarget, nil
		case !fi.Mode.IsDir():
			return dirs[i], "not a directory", nil
		}
	}
	return "", "", nil
}
