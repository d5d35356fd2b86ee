package bake

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/sysext"
)

// Sysext is one NAME:FILE argument, resolved.
type Sysext struct {
	Name string // extension name: /etc/extensions/NAME.raw
	File string // local path of the image
	Conf string // local path of NAME.conf, or ""
	// ConfFrom says where Conf was found, for the log and --json: "next
	// to FILE", "in the current directory" or "downloaded with FILE".
	ConfFrom string
	// RemoteFile is FILE as given, the name to download from the bakery
	// with Remote.Sysexts.
	RemoteFile string
}

// ParseSysextArgs turns NAME:FILE arguments into Sysexts. FILE is resolved
// from dir (the current directory); NAME.conf is looked up next to FILE,
// then in dir. Names are validated and duplicates refused; missing files
// are not checked here (see Check).
func ParseSysextArgs(args []string, dir string) ([]Sysext, error) {
	seen := map[string]bool{}
	var out []Sysext
	for _, a := range args {
		name, file, ok := strings.Cut(a, ":")
		if !ok || name == "" || file == "" {
			return nil, fmt.Errorf("sysext argument %q: want NAME:FILE, e.g. wasmtime:wasmtime-24.0.0-x86-64.raw", a)
		}
		if err := sysext.ValidName(name); err != nil {
			return nil, fmt.Errorf("sysext argument %q: %w", a, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("sysext argument %q: duplicate NAME %q", a, name)
		}
		seen[name] = true
		remote := file
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		file = filepath.Clean(file)
		s := Sysext{Name: name, File: file, RemoteFile: remote}
		for _, c := range []struct{ path, from string }{
			{filepath.Join(filepath.Dir(file), name+".conf"), "next to " + filepath.Base(file)},
			{filepath.Join(dir, name+".conf"), "in the current directory"},
		} {
			if st, err := os.Stat(c.path); err == nil && st.Mode().IsRegular() {
				s.Conf, s.ConfFrom = c.path, c.from
				break
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Partition names for --install_to.
const (
	PartROOT = "root"
	PartOEM  = "oem"
)

// Target is a parsed --install_to PART:DIR.
type Target struct {
	Part string // PartROOT or PartOEM
	Dir  string // absolute, cleaned, inside the partition
}

// DefaultInstallTo is the bash script's default.
const DefaultInstallTo = "root:/opt/extensions/"

// ParseTarget parses PART:DIR.
func ParseTarget(s string) (Target, error) {
	part, dir, ok := strings.Cut(s, ":")
	if !ok || dir == "" {
		return Target{}, fmt.Errorf("--install_to %q: want root:/DIR/ or oem:/DIR/", s)
	}
	part = strings.ToLower(part)
	if part != PartROOT && part != PartOEM {
		return Target{}, fmt.Errorf("--install_to %q: partition must be root or oem", s)
	}
	if !strings.HasPrefix(dir, "/") {
		return Target{}, fmt.Errorf("--install_to %q: directory must be absolute", s)
	}
	for _, el := range strings.Split(dir, "/") {
		if el == ".." {
			return Target{}, fmt.Errorf("--install_to %q: directory must not contain '..'", s)
		}
	}
	if strings.IndexFunc(dir, badPathRune) >= 0 {
		return Target{}, fmt.Errorf("--install_to %q: directory must not contain control characters, quotes or backslashes", s)
	}
	dir = path.Clean(dir)
	if _, ok := inPartition(part, dir); part == PartROOT && !ok {
		return Target{}, fmt.Errorf("--install_to %q: %s in ROOT is hidden on a running Flatcar (another filesystem is mounted there): use root:/opt/extensions/", s, dir)
	}
	return Target{Part: part, Dir: dir}, nil
}

// badPathRune is a character no path bake-os writes may hold: debugfs
// and sysupdate configs cannot carry control characters, quotes or
// backslashes faithfully.
func badPathRune(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' || r == '\\' }

// String formats the target as PART:DIR/.
func (t Target) String() string { return t.Part + ":" + strings.TrimSuffix(t.Dir, "/") + "/" }

func checkFile(what, p string) (fs.FileInfo, error) {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %s does not exist", what, p)
		}
		return nil, fmt.Errorf("%s %s: %w", what, p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, p)
	}
	return st, nil
}
