package sysextbuild

import (
	"bytes"
	"errors"
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

// FlatcarOSID is the os-release ID of Flatcar Container Linux.
const FlatcarOSID = "flatcar"

// OEMName is the extension name of the OEM sysext for OEM ID id
// (oem-qemu for qemu): the image is oem-ID.raw and its metadata
// extension-release.oem-ID.
func OEMName(id string) string { return "oem-" + id }

// OEMExtensionRelease builds the metadata Flatcar's OEM sysexts carry:
// ID=flatcar, VERSION_ID=version (the sysext then merges on that Flatcar
// version only; without a version SYSEXT_LEVEL=1.0 instead, for any
// version), ARCHITECTURE, EXTENSION_RELOAD_MANAGER=1, SYSEXT_ID=oem-ID
// (what Flatcar's initrd and our vendor code read the OEM ID from) and,
// with a version, SYSEXT_VERSION_ID.
func OEMExtensionRelease(id, version string, arch flatcar.Arch) (*osrelease.Release, error) {
	if err := validOEMID(id); err != nil {
		return nil, err
	}
	if arch == "" {
		arch = flatcar.ArchX86_64
	}
	a, err := flatcar.ParseArch(string(arch))
	if err != nil {
		return nil, err
	}
	r := &osrelease.Release{}
	r.Set("ID", FlatcarOSID)
	if version != "" {
		if err := validVersionID(version); err != nil {
			return nil, err
		}
		r.Set("VERSION_ID", version)
	} else {
		r.Set("SYSEXT_LEVEL", SysextLevel)
	}
	r.Set("ARCHITECTURE", string(a))
	r.Set("EXTENSION_RELOAD_MANAGER", "1")
	r.Set("SYSEXT_ID", OEMName(id))
	if version != "" {
		r.Set("SYSEXT_VERSION_ID", version)
	}
	return r, nil
}

// validOEMID accepts OEM IDs as Flatcar names them (qemu, azure, ec2):
// lower-case letters, digits, "_" and "-", starting with a letter or digit.
func validOEMID(id string) error {
	for i, c := range id {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !(c == '_' || c == '-')) {
			return fmt.Errorf("invalid OEM ID %q: use a Flatcar OEM ID such as \"qemu\" or \"azure\" (lower-case letters, digits, _-)", id)
		}
	}
	if id == "" {
		return fmt.Errorf("empty OEM ID: use a Flatcar OEM ID such as \"qemu\"")
	}
	return nil
}

// validVersionID accepts os-release VERSION_ID values: lower-case letters,
// digits, "." "_" "-" and "+" (Flatcar versions such as 4593.2.5).
func validVersionID(v string) error {
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
			return fmt.Errorf("invalid version %q: use a Flatcar version such as 4593.2.5", v)
		}
	}
	if v == "" {
		return fmt.Errorf("empty version: use a Flatcar version such as 4593.2.5")
	}
	return nil
}

// ErrReleaseConflict is wrapped by the error for a tree whose own
// extension-release file contradicts the generated one.
var ErrReleaseConflict = errors.New("extension-release in the tree conflicts with the options")

// mergeRelease merges the generated metadata into the tree's own
// extension-release file: the tree's fields are kept in their order, the
// generated ones it lacks are appended, and a field both set differently
// is refused (never silently replaced either way).
func mergeRelease(provided []byte, where string, gen *osrelease.Release) (*osrelease.Release, error) {
	have, err := osrelease.Parse(bytes.NewReader(provided))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", where, err)
	}
	for _, k := range gen.Keys() {
		if v, ok := have.Lookup(k); ok && v != gen.Get(k) {
			return nil, fmt.Errorf("%w: %s sets %s=%s but the options give %s=%s: fix or remove the file, or change the options (--os, --arch, --reload, --oem, --version)",
				ErrReleaseConflict, where, k, osrelease.Quote(v), k, osrelease.Quote(gen.Get(k)))
		}
	}
	for _, k := range gen.Keys() {
		if _, ok := have.Lookup(k); !ok {
			have.Set(k, gen.Get(k))
		}
	}
	return have, nil
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

// CheckName checks an extension name with the rule bake uses
// (sysext.ValidName), so that what pack builds, bake accepts.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("empty extension name: pass a name or a directory with a base name")
	}
	return sysext.ValidName(name)
}
