package bake

import (
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sysext"
	"github.com/bake-os/bake-os/vendors"
)

// Placement says where one sysext goes.
type Placement struct {
	Sysext
	Part       string // PartROOT or PartOEM: the partition holding the image
	Path       string // the image's path inside that partition
	Link       string // symlink in ROOT, e.g. /etc/extensions/NAME.raw
	LinkTarget string // what the link points at on the running system
	ConfDest   string // /etc/sysupdate.NAME.d/NAME.conf in ROOT, or ""
	Managed    bool   // placed in the sysupdate [Target] Path
	Size       int64
}

// oemMount is where Flatcar mounts the OEM partition.
const oemMount = "/oem"

// NoopConfPath is where a bake with sysupdate configs puts noop.conf.
const NoopConfPath = "/etc/sysupdate.d/noop.conf"

// hiddenInROOT are ROOT directories another filesystem covers on a
// running Flatcar: USR-A, the boot partition, OEM, and the kernel's and
// systemd's tmpfs and pseudo filesystems. Files baked there are invisible.
var hiddenInROOT = []string{"/usr", "/boot", oemMount, "/run", "/tmp", "/proc", "/sys", "/dev"}

// inPartition maps an absolute path of the running system to a path inside
// the partition part, or reports that it lies elsewhere (or, for ROOT,
// where another filesystem hides it).
func inPartition(part, p string) (string, bool) {
	p = path.Clean(p)
	under := func(dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	switch part {
	case PartOEM:
		if !under(oemMount) {
			return "", false
		}
		rel := strings.TrimPrefix(p, oemMount)
		if rel == "" {
			rel = "/"
		}
		return rel, true
	default:
		for _, d := range hiddenInROOT {
			if under(d) {
				return "", false
			}
		}
		return p, true
	}
}

// runningPath maps a path inside part back to the running system's view.
func runningPath(part, p string) string {
	if part == PartOEM {
		return path.Join(oemMount, p)
	}
	return p
}

// linkPath is a sysext's or mask's default link.
func linkPath(name string) string { return "/etc/extensions/" + name + ".raw" }

// confDir is where a sysext's sysupdate transfer files live in ROOT.
func confDir(name string) string { return "/etc/sysupdate." + name + ".d" }

// claimKey is one path a bake creates: partition and path inside it.
type claimKey struct{ part, path string }

func (k claimKey) String() string { return partLabel(k.part) + ":" + k.path }

// claims records which input of the bake creates each path, so that no
// two inputs write one path and none writes inside another's file.
type claims map[claimKey]string

// add claims p in part for owner, or names the input that already has it.
func (c claims) add(part, p, owner string) error {
	k := claimKey{part, p}
	if other, ok := c[k]; ok {
		return fmt.Errorf("%s and %s are both %s: rename one (one path, one owner)", other, owner, k)
	}
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if other, ok := c[claimKey{part, d}]; ok {
			return fmt.Errorf("%s (%s) would lie inside %s, which is %s", owner, k, claimKey{part, d}, other)
		}
	}
	for o, other := range c {
		if o.part == part && strings.HasPrefix(o.path, p+"/") {
			return fmt.Errorf("%s (%s) would lie inside %s, which is %s", other, o, k, owner)
		}
	}
	c[k] = owner
	return nil
}

// bakePlan is everything a bake writes, decided before the first write.
type bakePlan struct {
	Placements []Placement
	Masks      []string // sorted
	Noop       bool     // noop.conf is written
	claims     claims
	// ignition is the config baked as OEM /config.ign, or nil; version
	// the image's Flatcar version it was validated for.
	ignition *provision.Ignition
	version  string
	// extensions are Flatcar's optional extensions to enable or disable.
	extensions *extensionPlan
	// kargs: OEM /grub.cfg gets Options.KernelArgs(Remove); units are
	// the --sysupdate timer link and drop-ins.
	kargs bool
	units []provision.UnitFile
}

// plan decides where every sysext, link, sysupdate config and mask goes
// and refuses any path that two inputs (or a vendor's OEM files) claim.
// j.version names the OEM sysext vendors install; j.log gets notes about
// where confs came from and what they imply.
func plan(j *job) (*bakePlan, error) {
	o, version, log := j.o, j.version, j.log
	bp := &bakePlan{claims: claims{}}
	c := bp.claims
	// Vendors write their OEM files into the baked OEM afterwards: a
	// sysext image placed there would be overwritten.
	for _, v := range o.Vendors {
		if v.OEM == "" {
			continue
		}
		ver := o.VendorOptions.FlatcarVersion
		if ver == "" {
			ver = version
		}
		for _, f := range vendors.OEMFiles(v.OEM, ver) {
			if _, ok := c[claimKey{PartOEM, f}]; !ok {
				c[claimKey{PartOEM, f}] = fmt.Sprintf("vendor %s's OEM file", v.Name)
			}
		}
	}
	if o.IgnitionFile != "" {
		c[claimKey{PartOEM, provision.OEMConfigPath}] = "the --ignition config"
	}
	t := j.target
	for _, s := range j.sysexts {
		p, err := place(s, t, string(j.arch), log)
		if err != nil {
			return nil, err
		}
		st, err := checkFile("sysext "+s.Name, s.File)
		if err != nil {
			return nil, err
		}
		p.Size = st.Size()
		bp.Placements = append(bp.Placements, p)
	}
	for _, p := range bp.Placements {
		who := "sysext " + p.Name
		if err := c.add(p.Part, p.Path, fmt.Sprintf("%s's image (%s)", who, path.Base(p.File))); err != nil {
			return nil, err
		}
		if err := c.add(PartROOT, p.Link, who+"'s link"); err != nil {
			return nil, err
		}
		if p.ConfDest != "" {
			bp.Noop = true
			if err := c.add(PartROOT, p.ConfDest, who+"'s sysupdate config"); err != nil {
				return nil, err
			}
		}
	}
	if bp.Noop {
		if err := c.add(PartROOT, NoopConfPath, "noop.conf"); err != nil {
			return nil, err
		}
	}
	var maskOwner map[string]string
	bp.Masks, maskOwner = extensionMasks(o)
	for _, m := range bp.Masks {
		if err := c.add(PartROOT, linkPath(m), maskOwner[m]); err != nil {
			return nil, err
		}
	}
	if err := bp.planExtensions(o, version); err != nil {
		return nil, err
	}
	if err := bp.planProvision(o); err != nil {
		return nil, err
	}
	// Only now, so that a path two inputs claim is reported as such.
	for _, p := range bp.Placements {
		who := "sysext " + p.Name
		if p.Part == PartROOT && sysext.IsDir(path.Dir(p.Path)) {
			return nil, fmt.Errorf("%s's image %s would lie in %s beside %s's link %s: systemd-sysext would merge it a second time as %s; install it elsewhere (e.g. --install_to %s)",
				who, p.Path, path.Dir(p.Path), who, p.Link, strings.TrimSuffix(path.Base(p.Path), ".raw"), DefaultInstallTo)
		}
		if base := path.Base(p.Link); base != p.Name+".raw" {
			return nil, fmt.Errorf("sysupdate config %s: CurrentSymlink=%s must be named %s.raw: systemd-sysext looks for extension-release.NAME by the link's name",
				p.Conf, p.Link, p.Name)
		}
	}
	return bp, nil
}

// place decides where one sysext goes.
func place(s Sysext, t Target, arch string, log *slog.Logger) (Placement, error) {
	file := path.Base(s.File)
	p := Placement{Sysext: s, Part: t.Part, Path: path.Join(t.Dir, file), Link: linkPath(s.Name)}
	if strings.IndexFunc(file, badPathRune) >= 0 || file == "." || file == ".." || file == "/" {
		return p, fmt.Errorf("sysext %s: file name %q cannot be installed: rename it without control characters, quotes or backslashes", s.Name, file)
	}
	if s.Conf == "" {
		p.LinkTarget = runningPath(p.Part, p.Path)
		return p, nil
	}
	from := s.ConfFrom
	if from == "" {
		from = "as given"
	}
	log.Info(fmt.Sprintf("sysext %s: sysupdate config %s (%s)", s.Name, s.Conf, from))
	st, err := sysext.ReadSysupdateConf(s.Conf)
	if err != nil {
		return p, err
	}
	p.ConfDest = confDir(s.Name) + "/" + s.Name + ".conf"
	for _, sec := range []struct {
		name     string
		patterns []string
	}{{"Source", st.SourcePatterns}, {"Target", st.TargetPatterns}} {
		ok, err := sysext.PatternsMatch(sec.patterns, file, arch)
		switch {
		case err != nil:
			log.Warn(fmt.Sprintf("%s: [%s] %v", s.Conf, sec.name, err))
		case !ok:
			log.Warn(fmt.Sprintf("%s: [%s] MatchPattern=%s cannot match %s: systemd-sysupdate will not recognise the installed version",
				s.Conf, sec.name, strings.Join(sec.patterns, " "), file))
		}
	}
	if st.Path != "" {
		if st.PathRelativeTo != "" && st.PathRelativeTo != "root" {
			log.Warn(fmt.Sprintf("%s: [Target] PathRelativeTo=%s is not the root; installing %s flat in %s", s.Conf, st.PathRelativeTo, file, t.Dir))
		} else if dir, ok := inPartition(t.Part, st.Path); ok {
			p.Path = path.Join(dir, file)
			p.Managed = true
		} else {
			log.Warn(fmt.Sprintf("%s: [Target] Path=%s is not in the %s partition; installing %s flat in %s", s.Conf, st.Path, t.Part, file, t.Dir))
		}
	}
	if st.CurrentSymlink != "" {
		p.Link = st.CurrentSymlink
	}
	p.LinkTarget = runningPath(p.Part, p.Path)
	return p, nil
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
