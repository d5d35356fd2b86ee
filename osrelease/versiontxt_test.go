package osrelease_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/osrelease"
)

// A real Flatcar version.txt, as published beside the images.
const flatcarVersionTxt = `FLATCAR_BUILD=4593
FLATCAR_BRANCH=2
FLATCAR_PATCH=5
FLATCAR_VERSION=4593.2.5
FLATCAR_VERSION_ID=4593.2.5
FLATCAR_BUILD_ID=""
FLATCAR_SDK_VERSION=4593.0.0
`

func TestParseVersionTxt(t *testing.T) {
	v, err := osrelease.ParseVersionTxt([]byte(flatcarVersionTxt))
	if err != nil {
		t.Fatal(err)
	}
	want := osrelease.VersionTxt{Version: "4593.2.5", VersionID: "4593.2.5", Build: "4593", Branch: "2", Patch: "5", SDKVersion: "4593.0.0"}
	want.Fields = v.Fields
	if *v != want {
		t.Errorf("parsed %+v, want %+v", *v, want)
	}
	if v.String() != flatcarVersionTxt {
		t.Errorf("String() does not give back the file:\n%s", v.String())
	}
}

// Quotes and escapes are undone as os-release(5) says (a line-based
// "cut at =" would keep them), and fields may be missing except
// FLATCAR_VERSION.
func TestParseVersionTxtQuotingAndMissingFields(t *testing.T) {
	for _, c := range []struct {
		in, version, id, buildID string
	}{
		{"FLATCAR_VERSION='4593.2.5'\n", "4593.2.5", "", ""},
		{"FLATCAR_VERSION=\"4593.2.5\"\nFLATCAR_VERSION_ID=\"4593.2.5\"\n", "4593.2.5", "4593.2.5", ""},
		{"# comment\n\nFLATCAR_VERSION=4593.2.5+dev\\$x\nFLATCAR_BUILD_ID=\"2026-01-01 \\\"nightly\\\"\"\n", "4593.2.5+dev$x", "", `2026-01-01 "nightly"`},
	} {
		v, err := osrelease.ParseVersionTxt([]byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if v.Version != c.version || v.VersionID != c.id || v.BuildID != c.buildID || v.Build != "" && v.Build != "4593" {
			t.Errorf("%q: parsed %+v", c.in, *v)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "no FLATCAR_VERSION"},
		{"FLATCAR_VERSION_ID=4593.2.5\n", "no FLATCAR_VERSION"},
		{"FLATCAR_VERSION=\n", "no FLATCAR_VERSION"},
		{"FLATCAR_VERSION=\"4593.2.5\n", "parsing version.txt"},
	} {
		if _, err := osrelease.ParseVersionTxt([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.in, err, c.want)
		}
	}
}

func TestReadVersionTxt(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, osrelease.VersionTxtFile)
	if _, err := osrelease.ReadVersionTxt(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	os.WriteFile(p, []byte(flatcarVersionTxt), 0o644)
	if v, err := osrelease.ReadVersionTxt(p); err != nil || v.Version != "4593.2.5" {
		t.Errorf("read %+v, %v", v, err)
	}
	os.WriteFile(p, []byte(flatcarVersionTxt+"X="+strings.Repeat("a", 64<<10)+"\n"), 0o644)
	if _, err := osrelease.ReadVersionTxt(p); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("oversized file: %v", err)
	}
	os.WriteFile(p, []byte("FLATCAR_BUILD=1\n"), 0o644)
	if _, err := osrelease.ReadVersionTxt(p); err == nil || !strings.Contains(err.Error(), p) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file without FLATCAR_VERSION: %v", err)
	}
}
