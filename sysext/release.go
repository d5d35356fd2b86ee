package sysext

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/osrelease"
)

// ReleaseDir is where extension-release files live inside a sysext.
const ReleaseDir = "usr/lib/extension-release.d"

// ReleasePath is the extension-release file a sysext named name must carry.
func ReleasePath(name string) string { return ReleaseDir + "/extension-release." + name }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidName checks a sysext name, the one rule for every command that
// names an extension (bake, --mask, sysext pack and the builders): it
// becomes NAME.raw, extension-release.NAME and /etc/sysupdate.NAME.d, so
// it is letters, digits, '.', '_' and '-', starting with a letter or
// digit, without "..".
func ValidName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("invalid sysext name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit (no '/' or '..')", name)
	}
	return nil
}

// ReadRelease reads and parses the extension-release of the sysext image
// at image for the extension name.
//
// The image is first judged by its filesystem's own tool (Check): an image
// that only bake-os could read would not merge on the host.
func ReadRelease(image, name string) (*osrelease.Release, error) {
	if err := Check(image); err != nil {
		return nil, err
	}
	data, err := ReadFile(image, ReleasePath(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s: the file name in /etc/extensions must match the extension's name (rename it or rebuild with --name %s)", image, ReleasePath(name), name)
		}
		return nil, err
	}
	rel, err := osrelease.ParseString(string(data))
	if err != nil {
		return nil, fmt.Errorf("parsing %s in %s: %w", ReleasePath(name), image, err)
	}
	return rel, nil
}

// Host is what systemd-sysext compares an extension-release with: the
// host's os-release and architecture.
type Host struct {
	ID          string // "flatcar"
	VersionID   string
	SysextLevel string // "1.0"
	Arch        flatcar.Arch
}

// FlatcarHost is a Flatcar host of the given version and arch.
func FlatcarHost(arch flatcar.Arch, version string) Host {
	return Host{ID: "flatcar", VersionID: version, SysextLevel: "1.0", Arch: arch}
}

// Compatible reports, as systemd-sysext would, whether an extension with
// release rel may be merged on h. The error names the field at fault.
func Compatible(rel *osrelease.Release, h Host) error {
	if a, ok := rel.Lookup("ARCHITECTURE"); ok && a != "" && a != string(h.Arch) {
		return fmt.Errorf("ARCHITECTURE=%s does not match the image's architecture %s", a, h.Arch)
	}
	id, ok := rel.Lookup("ID")
	if !ok || id == "" {
		return fmt.Errorf("ID is missing: set ID=_any or ID=%s", h.ID)
	}
	if id == "_any" {
		return nil
	}
	if id != h.ID {
		return fmt.Errorf("ID=%s does not match the image's ID=%s (use ID=_any or ID=%s)", id, h.ID, h.ID)
	}
	if lvl, ok := rel.Lookup("SYSEXT_LEVEL"); ok && lvl != "" {
		if lvl != h.SysextLevel {
			return fmt.Errorf("SYSEXT_LEVEL=%s does not match the image's SYSEXT_LEVEL=%s", lvl, h.SysextLevel)
		}
		return nil
	}
	if v, ok := rel.Lookup("VERSION_ID"); ok && v != "" {
		if h.VersionID != "" && v != h.VersionID {
			return fmt.Errorf("VERSION_ID=%s does not match the image's VERSION_ID=%s (prefer SYSEXT_LEVEL=1.0)", v, h.VersionID)
		}
		return nil
	}
	return fmt.Errorf("ID=%s needs SYSEXT_LEVEL=%s or VERSION_ID", id, h.SysextLevel)
}
