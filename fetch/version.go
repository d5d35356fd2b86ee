package fetch

import (
	"errors"
	"fmt"

	"github.com/bake-os/bake-os/osrelease"
)

// VersionInfo is a release's version.txt: shell-style KEY=value lines,
// parsed with os-release rules (quotes, escapes).
type VersionInfo struct {
	Version    string // FLATCAR_VERSION, e.g. 4593.2.5
	VersionID  string // FLATCAR_VERSION_ID
	Build      string // FLATCAR_BUILD
	Branch     string // FLATCAR_BRANCH
	Patch      string // FLATCAR_PATCH
	BuildID    string // FLATCAR_BUILD_ID, may be empty
	SDKVersion string // FLATCAR_SDK_VERSION
	Fields     *osrelease.Release
}

// ParseVersionTxt parses version.txt; FLATCAR_VERSION is required.
func ParseVersionTxt(data []byte) (*VersionInfo, error) {
	r, err := osrelease.ParseString(string(data))
	if err != nil {
		return nil, fmt.Errorf("parsing version.txt: %w", err)
	}
	v := &VersionInfo{
		Version:    r.Get("FLATCAR_VERSION"),
		VersionID:  r.Get("FLATCAR_VERSION_ID"),
		Build:      r.Get("FLATCAR_BUILD"),
		Branch:     r.Get("FLATCAR_BRANCH"),
		Patch:      r.Get("FLATCAR_PATCH"),
		BuildID:    r.Get("FLATCAR_BUILD_ID"),
		SDKVersion: r.Get("FLATCAR_SDK_VERSION"),
		Fields:     r,
	}
	if v.Version == "" {
		return nil, errors.New("parsing version.txt: no FLATCAR_VERSION")
	}
	return v, nil
}
