package vendors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/osrelease"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
)

const extReleaseDir = "usr/lib/extension-release.d"

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

// ReadExtensionRelease returns the extension-release file of the squashfs
// sysext at p, preferring extension-release.<name> when several exist
// (name: the sysext name, e.g. "oem-qemu"; may be ""). It reads with
// go-diskfs and falls back to `unsquashfs -cat`, which also handles
// compressors go-diskfs cannot read (lz4, FLATCAR.md §4).
func ReadExtensionRelease(ctx context.Context, p, name string) ([]byte, error) {
	data, err := readExtReleaseDiskfs(p, name)
	if err == nil {
		return data, nil
	}
	data, err2 := readExtReleaseUnsquashfs(ctx, p, name)
	if err2 != nil {
		return nil, fmt.Errorf("reading extension-release of %s: %w (go-diskfs: %v)", p, err2, err)
	}
	return data, nil
}

func pickRelease(names []string, want string) (string, error) {
	var cands []string
	for _, n := range names {
		if strings.HasPrefix(n, "extension-release.") {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("no %s/extension-release.* file", extReleaseDir)
	}
	sort.Strings(cands)
	for _, c := range cands {
		if want != "" && c == "extension-release."+want {
			return c, nil
		}
	}
	if len(cands) > 1 {
		return "", fmt.Errorf("several extension-release files (%s) and none named extension-release.%s", strings.Join(cands, ", "), want)
	}
	return cands[0], nil
}

func readExtReleaseDiskfs(p, name string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening sysext: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening sysext: %w", err)
	}
	fs, err := squashfs.Read(file.New(f, true), st.Size(), 0, 0)
	if err != nil {
		return nil, fmt.Errorf("reading squashfs: %w", err)
	}
	entries, err := fs.ReadDir(extReleaseDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", extReleaseDir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	pick, err := pickRelease(names, name)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(path.Join(extReleaseDir, pick))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pick, err)
	}
	return data, nil
}

func readExtReleaseUnsquashfs(ctx context.Context, p, name string) ([]byte, error) {
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		return nil, errors.New("unsquashfs not found: install squashfs-tools")
	}
	out, err := exec.CommandContext(ctx, "unsquashfs", "-l", "-d", "r", p, extReleaseDir).Output()
	if err != nil {
		return nil, fmt.Errorf("listing sysext with unsquashfs: %w", err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "r/"+extReleaseDir+"/"); ok && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	pick, err := pickRelease(names, name)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "unsquashfs", "-cat", p, path.Join(extReleaseDir, pick))
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("unsquashfs -cat %s: %w: %s", pick, err, strings.TrimSpace(stderr.String()))
	}
	return data, nil
}
