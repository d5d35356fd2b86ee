package benchimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/testimage"
)

// makeOEM writes the qemu OEM sysext of a release: extension-release with
// the fields Flatcar's OEM sysexts carry, plus a few small files.
func makeOEM(ctx context.Context, out, version string) error {
	release := fmt.Sprintf(`ID='flatcar'
VERSION_ID='%[1]s'
ARCHITECTURE='x86-64'
EXTENSION_RELOAD_MANAGER=1
SYSEXT_ID='oem-qemu'
SYSEXT_NAME='OEM sysext for QEMU'
SYSEXT_VERSION_ID='%[1]s'
SYSEXT_HOME_URL='https://www.qemu.org/'
SYSEXT_BUG_REPORT_URL='https://issues.flatcar.org'
`, version)
	files := map[string]string{
		"usr/lib/systemd/system/oem-qemu.target":      "[Unit]\nDescription=OEM QEMU\n",
		"usr/share/oem/base/default.ign":              `{"ignition":{"version":"3.3.0"}}` + "\n",
		"usr/lib/systemd/system-preset/50-oem.preset": "enable qemu-guest-agent.service\n",
	}
	tmp := out + ".tmp"
	defer os.Remove(tmp)
	if err := testimage.Sysext(ctx, tmp, "oem-qemu", release, files); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// makeSample packs about hostBytes of host libraries into a squashfs
// sysext named name (ID=_any) with mksquashfs.
func makeSample(ctx context.Context, out, name string, hostBytes int64) error {
	tree, err := os.MkdirTemp(filepath.Dir(out), ".sysext-"+name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	rel := filepath.Join(tree, "usr/lib/extension-release.d/extension-release."+name)
	if err := os.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(rel, []byte("ID=_any\n"), 0o644); err != nil {
		return err
	}
	var n int64
	for _, f := range hostFiles("/usr/lib/x86_64-linux-gnu") {
		if n >= hostBytes {
			break
		}
		if f.size > 16<<20 {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			continue
		}
		dst := filepath.Join(tree, "usr/lib", name, strings.TrimPrefix(f.path, "/usr/lib/x86_64-linux-gnu/"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		n += int64(len(data))
	}
	tmp := out + ".tmp"
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "mksquashfs", tree, tmp, "-all-root", "-noappend", "-quiet", "-no-progress")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs %s: %w: %s", name, err, b)
	}
	return os.Rename(tmp, out)
}
