package sysext

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/osrelease"
)

// Verdicts of a Finding.
const (
	// VerdictOK: the check passes (or is only informational).
	VerdictOK = "ok"
	// VerdictRefused: systemd-sysext would not merge the image.
	VerdictRefused = "refused"
	// VerdictWarning: systemd-sysext would merge it, but something in it
	// is ignored or harms the host.
	VerdictWarning = "warning"
)

// Finding is one line of a Report: what was checked, the verdict and why.
type Finding struct {
	Check   string `json:"check"` // format, name, ARCHITECTURE, ID, SYSEXT_LEVEL, VERSION_ID, os-release, EXTENSION_RELOAD_MANAGER, content, usr/sbin
	Verdict string `json:"verdict"`
	Message string `json:"message"`
}

// Report says whether systemd-sysext would merge a sysext image on a host.
type Report struct {
	File     string    `json:"file"`
	Name     string    `json:"name"`   // the name systemd derives (or --name)
	Format   string    `json:"format"` // "" when not a filesystem systemd mounts
	Host     Host      `json:"host"`
	Releases []string  `json:"releases"` // the extension-release.* files in the image
	Merges   bool      `json:"merges"`
	Findings []Finding `json:"findings"`
}

// CheckOptions say how the image would be installed and where.
type CheckOptions struct {
	// Name is the extension name, as the link in /etc/extensions
	// (NAME.raw) gives it; default: the file name without ".raw".
	Name string
	Host Host
}

// NameOf is the name systemd-sysext gives an image file: its base name
// without a trailing ".raw".
func NameOf(file string) string { return strings.TrimSuffix(filepath.Base(file), ".raw") }

// Check explains whether systemd-sysext on o.Host would merge the image at
// image, the way systemd-sysext(8) decides it:
//
//   - format: the image must hold a squashfs, erofs, ext4 or btrfs
//     filesystem (anything else is refused);
//   - name: systemd names the extension after the file or link it finds
//     in /etc/extensions (NAME.raw gives NAME) and reads only
//     usr/lib/extension-release.d/extension-release.NAME; when that file is
//     missing the image is refused ("Failed to read metadata for image
//     NAME"), and the finding names the extension-release files the image
//     does carry;
//   - ARCHITECTURE, ID, SYSEXT_LEVEL / VERSION_ID against the host (see
//     Compatible);
//   - os-release: an image carrying usr/lib/os-release is refused;
//   - EXTENSION_RELOAD_MANAGER: informational;
//   - content: only /usr and /opt are merged, anything else in the image
//     is ignored (warning);
//   - usr/sbin: on Flatcar /usr/sbin is a symlink to bin. systemd merges
//     an image shipping a usr/sbin directory, but the directory hides the
//     host's link and with it every program the host has under
//     /usr/sbin: a warning, since the image does merge.
//
// Report.Merges is false when any finding is refused. Errors are for
// images that cannot be read at all (missing file, missing tool, a
// corrupt filesystem).
func Check(image string, o CheckOptions) (*Report, error) {
	r := &Report{File: image, Name: o.Name, Host: o.Host, Releases: []string{}}
	if r.Name == "" {
		r.Name = NameOf(image)
	}
	add := func(check, verdict, format string, a ...any) {
		r.Findings = append(r.Findings, Finding{Check: check, Verdict: verdict, Message: fmt.Sprintf(format, a...)})
	}
	defer func() {
		r.Merges = true
		for _, f := range r.Findings {
			if f.Verdict == VerdictRefused {
				r.Merges = false
			}
		}
	}()

	if st, err := os.Stat(image); err != nil {
		return nil, fmt.Errorf("checking sysext: %w", err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: check reads image files (pack the tree with bake-os sysext pack first)", image)
	}
	format, err := DetectFormat(image)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
		add("format", VerdictRefused, "no squashfs, erofs, ext4 or btrfs filesystem: systemd-sysext cannot mount it")
		return r, nil
	}
	r.Format = format
	add("format", VerdictOK, "%s", format)

	entries, err := List(image)
	if err != nil {
		return nil, err
	}
	has := map[string]fs.FileMode{}
	for _, e := range entries {
		has[e.Path] = e.Mode
		if dir, base := splitPath(e.Path); dir == ReleaseDir && strings.HasPrefix(base, "extension-release.") {
			r.Releases = append(r.Releases, base)
		}
	}
	sort.Strings(r.Releases)

	// The name and its extension-release file.
	var rel *osrelease.Release
	want := "extension-release." + r.Name
	if err := ValidName(r.Name); err != nil {
		add("name", VerdictRefused, "%v", err)
	} else if m, ok := has[ReleasePath(r.Name)]; !ok {
		add("name", VerdictRefused, "%s", missingRelease(r.Name, r.Releases, o.Name != ""))
	} else if m.IsDir() {
		add("name", VerdictRefused, "%s is a directory", ReleasePath(r.Name))
	} else {
		data, err := ReadFile(image, ReleasePath(r.Name))
		if err != nil {
			return nil, err
		}
		if rel, err = osrelease.ParseString(string(data)); err != nil {
			add("name", VerdictRefused, "%s: %v", ReleasePath(r.Name), err)
			rel = nil
		} else {
			add("name", VerdictOK, "%s found for the name %s", want, r.Name)
		}
	}

	// The release fields against the host.
	if rel != nil {
		for _, f := range compatibility(rel, o.Host) {
			switch {
			case f.err != nil:
				add(f.field, VerdictRefused, "%v", f.err)
			case f.warn:
				add(f.field, VerdictWarning, "%s", f.note)
			default:
				add(f.field, VerdictOK, "%s", f.note)
			}
		}
		switch v := rel.Get("EXTENSION_RELOAD_MANAGER"); v {
		case "1", "yes", "true", "on":
			add("EXTENSION_RELOAD_MANAGER", VerdictOK, "EXTENSION_RELOAD_MANAGER=%s: systemd reloads its units after merging, so units the image ships start at boot", v)
		default:
			add("EXTENSION_RELOAD_MANAGER", VerdictOK, "not set: units the image ships are seen only after a daemon-reload (set EXTENSION_RELOAD_MANAGER=1 when it ships units)")
		}
	}

	// Content.
	if _, ok := has["usr/lib/os-release"]; ok {
		add("os-release", VerdictRefused, "the image carries usr/lib/os-release: systemd-sysext refuses extensions that replace the host's os-release; remove it")
	}
	var outside []string
	for _, e := range entries {
		if !strings.Contains(e.Path, "/") && e.Path != "usr" && e.Path != "opt" {
			outside = append(outside, e.Path)
		}
	}
	if len(outside) > 0 {
		add("content", VerdictWarning, "%s outside /usr and /opt: systemd-sysext merges only /usr and /opt and ignores it", strings.Join(outside, ", "))
	} else {
		add("content", VerdictOK, "only /usr and /opt")
	}
	if m, ok := has["usr/sbin"]; ok && m&fs.ModeSymlink == 0 {
		add("usr/sbin", VerdictWarning, "the image ships usr/sbin: on Flatcar /usr/sbin is a symlink to bin, and the merged directory hides it and every program the host keeps there; move the files to usr/bin")
	}
	return r, nil
}

// missingRelease explains a missing extension-release.NAME.
func missingRelease(name string, have []string, explicit bool) string {
	msg := fmt.Sprintf("no %s: systemd-sysext refuses the image (\"Failed to read metadata for image %s\")", ReleasePath(name), name)
	switch len(have) {
	case 0:
		return msg + "; the image carries no extension-release file: rebuild it with bake-os sysext pack --name " + name
	case 1:
		other := strings.TrimPrefix(have[0], "extension-release.")
		how := "link it as " + other + ".raw"
		if explicit {
			how = "install it as " + other + " (--name " + other + ")"
		}
		return fmt.Sprintf("%s; the image carries %s: %s or rebuild it with --name %s", msg, have[0], how, name)
	}
	return fmt.Sprintf("%s; the image carries %s: link it under one of those names or rebuild it with --name %s", msg, strings.Join(have, ", "), name)
}

func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}
