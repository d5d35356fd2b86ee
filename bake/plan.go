package bake

import (
	"fmt"
	"path"
	"strings"
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

// inPartition maps an absolute path of the running system to a path inside
// the partition part, or reports that it lies elsewhere.
func inPartition(part, p string) (string, bool) {
	p = path.Clean(p)
	underOEM := p == oemMount || strings.HasPrefix(p, oemMount+"/")
	switch part {
	case PartOEM:
		if !underOEM {
			return "", false
		}
		rel := strings.TrimPrefix(p, oemMount)
		if rel == "" {
			rel = "/"
		}
		return rel, true
	default:
		if underOEM || p == "/usr" || strings.HasPrefix(p, "/usr/") || p == "/boot" || strings.HasPrefix(p, "/boot/") {
			return "", false
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

// plan computes placements; warn receives notes about confs whose Path
// lies outside the install partition.
func plan(sysexts []Sysext, t Target, warn func(string)) ([]Placement, error) {
	var out []Placement
	links := map[string]string{}
	for _, s := range sysexts {
		file := path.Base(s.File)
		p := Placement{Sysext: s, Part: t.Part, Path: path.Join(t.Dir, file), Link: "/etc/extensions/" + s.Name + ".raw"}
		if s.Conf != "" {
			st, err := ReadSysupdateTarget(s.Conf)
			if err != nil {
				return nil, err
			}
			p.ConfDest = fmt.Sprintf("/etc/sysupdate.%s.d/%s.conf", s.Name, s.Name)
			if st.Path != "" {
				if dir, ok := inPartition(t.Part, st.Path); ok {
					p.Path = path.Join(dir, file)
					p.Managed = true
				} else {
					warn(fmt.Sprintf("%s: [Target] Path=%s is not in the %s partition; installing %s flat in %s", s.Conf, st.Path, t.Part, file, t.Dir))
				}
			}
			if st.CurrentSymlink != "" {
				if _, ok := inPartition(PartROOT, st.CurrentSymlink); !ok {
					return nil, fmt.Errorf("%s: CurrentSymlink=%s must be in ROOT (not under /usr, /boot or /oem)", s.Conf, st.CurrentSymlink)
				}
				p.Link = path.Clean(st.CurrentSymlink)
			}
		}
		p.LinkTarget = runningPath(p.Part, p.Path)
		if other, dup := links[p.Link]; dup {
			return nil, fmt.Errorf("sysexts %s and %s both want the symlink %s", other, s.Name, p.Link)
		}
		links[p.Link] = s.Name
		out = append(out, p)
	}
	return out, nil
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
