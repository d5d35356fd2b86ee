package sysextbuild

import (
	"fmt"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/sysext"
)

// AnyOS is the extension-release ID that matches every host OS.
const AnyOS = "_any"

// SysextLevel is the SYSEXT_LEVEL written when the ID names an OS; it
// matches Flatcar's os-release.
const SysextLevel = "1.0"

// ExtensionReleaseDir is where the metadata file lives inside the image.
const ExtensionReleaseDir = "usr/lib/extension-release.d"

// ExtensionReleasePath is the path of NAME's metadata file, relative to
// the image root.
func ExtensionReleasePath(name string) string {
	return ExtensionReleaseDir + "/extension-release." + name
}

// ExtensionRelease builds the metadata of a sysext: ID (osID, "_any" when
// empty), SYSEXT_LEVEL=1.0 only when ID is not "_any", ARCHITECTURE when
// arch is set, and EXTENSION_RELOAD_MANAGER=1 when reload is set. Fields
// are in that order.
func ExtensionRelease(osID string, arch flatcar.Arch, reload bool) (*osrelease.Release, error) {
	if osID == "" {
		osID = AnyOS
	}
	if err := validOSID(osID); err != nil {
		return nil, err
	}
	r := &osrelease.Release{}
	r.Set("ID", osID)
	if osID != AnyOS {
		r.Set("SYSEXT_LEVEL", SysextLevel)
	}
	if arch != "" {
		a, err := flatcar.ParseArch(string(arch))
		if err != nil {
			return nil, err
		}
		r.Set("ARCHITECTURE", string(a))
	}
	if reload {
		r.Set("EXTENSION_RELOAD_MANAGER", "1")
	}
	return r, nil
}

// validOSID accepts "_any" and os-release IDs: lower-case letters, digits,
// "_", "-" and "." (os-release(5)).
func validOSID(id string) error {
	if id == AnyOS {
		return nil
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("invalid OS ID %q: use %q or an os-release ID such as \"flatcar\" (lower-case letters, digits, _-.)", id, AnyOS)
		}
	}
	if id == "" {
		return fmt.Errorf("empty OS ID: use %q or an os-release ID such as \"flatcar\"", AnyOS)
	}
	return nil
}

// validExtName checks an extension name with the rule bake uses
// (sysext.ValidName), so that what pack builds, bake accepts.
func validExtName(name string) error {
	if name == "" {
		return fmt.Errorf("empty extension name: pass a name or a directory with a base name")
	}
	return sysext.ValidName(name)
}
