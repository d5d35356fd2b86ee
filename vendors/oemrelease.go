package vendors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/sysext"
)

// OEMRelease renders OEM /oem-release from an OEM sysext's
// extension-release: only the SYSEXT_* fields are kept, without the prefix,
// and "oem-" is dropped from the ID value (SYSEXT_ID='oem-qemu' -> ID=qemu).
// Values are parsed and written with os-release quoting rules.
func OEMRelease(extensionRelease []byte) (string, error) {
	rel, err := osrelease.Parse(bytes.NewReader(extensionRelease))
	if err != nil {
		return "", fmt.Errorf("parsing OEM extension-release: %w", err)
	}
	out := &osrelease.Release{}
	for _, k := range rel.Keys() {
		name, ok := strings.CutPrefix(k, "SYSEXT_")
		if !ok || name == "" {
			continue
		}
		v := rel.Get(k)
		if name == "ID" {
			v = strings.TrimPrefix(v, "oem-")
		}
		out.Set(name, v)
	}
	if _, ok := out.Lookup("ID"); !ok {
		return "", errors.New("parsing OEM extension-release: no SYSEXT_ID field")
	}
	return out.String(), nil
}

// ReadExtensionRelease returns usr/lib/extension-release.d/
// extension-release.NAME of the OEM sysext at p (name: e.g. "oem-qemu"),
// read by package sysext (go-diskfs, with unsquashfs for lz4).
func ReadExtensionRelease(_ context.Context, p, name string) ([]byte, error) {
	data, err := sysext.ReadFile(p, sysext.ReleasePath(name))
	if err != nil {
		return nil, fmt.Errorf("reading extension-release of %s: %w", p, err)
	}
	return data, nil
}
