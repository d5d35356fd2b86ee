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
	if err := CheckFilesystem(image); err != nil {
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
	ID          string       `json:"id"` // "flatcar"
	VersionID   string       `json:"version_id"`
	SysextLevel string       `json:"sysext_level"` // "1.0"
	Arch        flatcar.Arch `json:"architecture"`
}

// FlatcarHost is a Flatcar host of the given version and arch.
func FlatcarHost(arch flatcar.Arch, version string) Host {
	return Host{ID: "flatcar", VersionID: version, SysextLevel: "1.0", Arch: arch}
}

// Compatible reports, as systemd-sysext would, whether an extension with
// release rel may be merged on h. The error names the field at fault.
func Compatible(rel *osrelease.Release, h Host) error {
	for _, f := range compatibility(rel, h) {
		if f.err != nil {
			return f.err
		}
	}
	return nil
}

// fieldCheck is the outcome of comparing one extension-release field
// with the host.
type fieldCheck struct {
	field string // ARCHITECTURE, ID, SYSEXT_LEVEL or VERSION_ID
	note  string // why it matches, when it does
	warn  bool   // it matches, but only for a host of unknown version
	err   error  // why it does not
}

// compatibility compares rel with h field by field in systemd-sysext's
// order: ARCHITECTURE (empty and _any match any host), ID (_any ends the
// comparison), then SYSEXT_LEVEL when both sides set it, else VERSION_ID
// when the host sets it. It stops at the first mismatch, as systemd does.
func compatibility(rel *osrelease.Release, h Host) []fieldCheck {
	var out []fieldCheck
	switch a := rel.Get("ARCHITECTURE"); a {
	case "":
		out = append(out, fieldCheck{field: "ARCHITECTURE", note: "not set: any architecture"})
	case "_any":
		out = append(out, fieldCheck{field: "ARCHITECTURE", note: "ARCHITECTURE=_any: any architecture"})
	case string(h.Arch):
		out = append(out, fieldCheck{field: "ARCHITECTURE", note: "ARCHITECTURE=" + a + " matches the host"})
	default:
		return append(out, fieldCheck{field: "ARCHITECTURE",
			err: fmt.Errorf("ARCHITECTURE=%s does not match the image's architecture %s", a, h.Arch)})
	}
	id := rel.Get("ID")
	switch {
	case id == "":
		return append(out, fieldCheck{field: "ID", err: fmt.Errorf("ID is missing: set ID=_any or ID=%s", h.ID)})
	case id == "_any":
		return append(out, fieldCheck{field: "ID", note: "ID=_any: any OS, no version check"})
	case id != h.ID:
		return append(out, fieldCheck{field: "ID",
			err: fmt.Errorf("ID=%s does not match the image's ID=%s (use ID=_any or ID=%s)", id, h.ID, h.ID)})
	}
	out = append(out, fieldCheck{field: "ID", note: "ID=" + id + " matches the host"})
	lvl, v := rel.Get("SYSEXT_LEVEL"), rel.Get("VERSION_ID")
	switch {
	case h.VersionID == "" && h.SysextLevel == "":
		return append(out, fieldCheck{field: "VERSION_ID", note: "the host has neither VERSION_ID nor SYSEXT_LEVEL: any version"})
	case lvl != "" && h.SysextLevel != "":
		if lvl != h.SysextLevel {
			return append(out, fieldCheck{field: "SYSEXT_LEVEL",
				err: fmt.Errorf("SYSEXT_LEVEL=%s does not match the image's SYSEXT_LEVEL=%s", lvl, h.SysextLevel)})
		}
		return append(out, fieldCheck{field: "SYSEXT_LEVEL", note: "SYSEXT_LEVEL=" + lvl + " matches the host"})
	case lvl == "" && v == "":
		return append(out, fieldCheck{field: "SYSEXT_LEVEL",
			err: fmt.Errorf("ID=%s needs SYSEXT_LEVEL=%s or VERSION_ID", id, levelOrDefault(h.SysextLevel))})
	case v == "":
		return append(out, fieldCheck{field: "VERSION_ID",
			err: fmt.Errorf("SYSEXT_LEVEL=%s cannot be compared: the host has no SYSEXT_LEVEL, and VERSION_ID is missing", lvl)})
	case h.VersionID == "":
		// bake checks this case itself: the image's version is unknown.
		return append(out, fieldCheck{field: "VERSION_ID", warn: true,
			note: "VERSION_ID=" + v + ": merges only on that exact release, and the host's version is unknown (give --image or --os-release, or prefer SYSEXT_LEVEL=1.0)"})
	case v != h.VersionID:
		return append(out, fieldCheck{field: "VERSION_ID",
			err: fmt.Errorf("VERSION_ID=%s does not match the image's VERSION_ID=%s (prefer SYSEXT_LEVEL=1.0)", v, h.VersionID)})
	}
	return append(out, fieldCheck{field: "VERSION_ID", note: "VERSION_ID=" + v + " matches the host"})
}

func levelOrDefault(s string) string {
	if s == "" {
		return "1.0"
	}
	return s
}
