package sysextbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

// TestSquashfsSkippedLines runs the real mksquashfs as an unprivileged
// user on a tree with an unreadable file and directory: it exits 0, and
// squashfsSkipped must recognise what it says on stderr (the second line
// of defence behind checkReadable).
func TestSquashfsSkippedLines(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs")
	base, err := os.MkdirTemp("", "bake-sq-skip-")
	rootfstest.Must(t, err)
	t.Cleanup(func() {
		_ = filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { _ = os.Chmod(p, 0o755); return nil })
		os.RemoveAll(base)
	})
	rootfstest.Must(t, os.Chmod(base, 0o777))
	tree := filepath.Join(base, "tree")
	rootfstest.Write(t, filepath.Join(tree, "usr/bin/ok"), "ok\n")
	rootfstest.Write(t, filepath.Join(tree, "usr/bin/secret"), "secret\n")
	rootfstest.Write(t, filepath.Join(tree, "usr/lib/private/data"), "data\n")
	rootfstest.Must(t, filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	}))
	for _, p := range []string{"usr/bin/secret", "usr/lib/private"} {
		t.Run(p, func(t *testing.T) {
			rootfstest.Must(t, os.Chmod(filepath.Join(tree, "usr/bin/secret"), 0o644))
			rootfstest.Must(t, os.Chmod(filepath.Join(tree, "usr/lib/private"), 0o755))
			rootfstest.Must(t, os.Chmod(filepath.Join(tree, p), 0))
			out := filepath.Join(base, "out.raw")
			_ = os.Remove(out)
			cmd := exec.Command("mksquashfs", tree, out, "-noappend", "-quiet", "-no-progress")
			if os.Geteuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Logf("mksquashfs failed this time (%v): fine, but the parser is not exercised: %s", err, stderr.String())
			}
			got := squashfsSkipped([]byte(stderr.String()))
			if !strings.Contains(got, filepath.Join(tree, p)) {
				t.Errorf("squashfsSkipped(%q) = %q, want a line naming %s", stderr.String(), got, p)
			}
		})
	}
	if got := squashfsSkipped([]byte("Parallel mksquashfs: Using 2 processors\n")); got != "" {
		t.Errorf("an ordinary line is taken for a skip: %q", got)
	}
}
