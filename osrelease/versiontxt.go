package osrelease

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// VersionTxtFile is the name of a Flatcar release's version file, published
// beside its images and kept beside a downloaded or local image.
const VersionTxtFile = "version.txt"

// maxVersionTxt caps what ReadVersionTxt reads: a real file is a few
// hundred bytes.
const maxVersionTxt = 64 << 10

// VersionTxt is Flatcar's version.txt: os-release-style KEY=value lines
// (quotes and escapes as in Parse) naming a release.
type VersionTxt struct {
	Version    string // FLATCAR_VERSION, e.g. 4593.2.5; required
	VersionID  string // FLATCAR_VERSION_ID
	Build      string // FLATCAR_BUILD
	Branch     string // FLATCAR_BRANCH
	Patch      string // FLATCAR_PATCH
	BuildID    string // FLATCAR_BUILD_ID, may be empty
	SDKVersion string // FLATCAR_SDK_VERSION
	// Fields holds every line, the ones above included.
	Fields *Release
}

// ParseVersionTxt parses a version.txt; FLATCAR_VERSION is required.
// It does not judge the version's form (flatcar.ParseVersion does).
func ParseVersionTxt(data []byte) (*VersionTxt, error) {
	r, err := ParseString(string(data))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", VersionTxtFile, err)
	}
	v := &VersionTxt{
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
		return nil, fmt.Errorf("parsing %s: no FLATCAR_VERSION", VersionTxtFile)
	}
	return v, nil
}

// ReadVersionTxt reads and parses the version.txt at path. A missing file
// is an error matching fs.ErrNotExist; a file over 64 KiB is refused.
func ReadVersionTxt(path string) (*VersionTxt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxVersionTxt+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxVersionTxt {
		return nil, fmt.Errorf("%s: over %d bytes, not a version.txt", path, maxVersionTxt)
	}
	v, err := ParseVersionTxt(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// String renders v as Flatcar writes version.txt (BUILD, BRANCH, PATCH,
// VERSION, VERSION_ID, BUILD_ID, SDK_VERSION), values quoted where needed.
func (v *VersionTxt) String() string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"FLATCAR_BUILD", v.Build}, {"FLATCAR_BRANCH", v.Branch}, {"FLATCAR_PATCH", v.Patch},
		{"FLATCAR_VERSION", v.Version}, {"FLATCAR_VERSION_ID", v.VersionID},
		{"FLATCAR_BUILD_ID", v.BuildID}, {"FLATCAR_SDK_VERSION", v.SDKVersion},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], Quote(kv[1]))
	}
	return b.String()
}
