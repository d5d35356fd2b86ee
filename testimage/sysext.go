package testimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Sysext makes a squashfs sysext image at out with mksquashfs (not our own
// packer, so tests of the baker do not depend on it): release is the
// content of usr/lib/extension-release.d/extension-release.NAME and files
// are extra paths (relative) with their content.
func Sysext(ctx context.Context, out, name, release string, files map[string]string) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".sysext-tree-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	all := map[string]string{"usr/lib/extension-release.d/extension-release." + name: release}
	for k, v := range files {
		all[k] = v
	}
	if err := writeTree(dir, all); err != nil {
		return err
	}
	if err := run(ctx, nil, "mksquashfs", dir, out, "-all-root", "-noappend", "-quiet", "-no-progress"); err != nil {
		return fmt.Errorf("making sysext %s: %w", name, err)
	}
	return nil
}
