package sysextbuild_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
)

// packAsUserEnv, when set, makes the test binary pack the tree it names
// into $packAsUserEnv_OUT and exit: TestPackUnreadableAsUser runs the
// binary that way as an unprivileged user.
const packAsUserEnv = "BAKE_TEST_PACK_AS_USER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(packAsUserEnv); dir != "" {
		_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: dir, Name: "unreadable", Output: os.Getenv(packAsUserEnv + "_OUT")})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPackUnreadableAsUser: packing as a non-root user a tree holding a
// file or directory that user cannot read is an error naming it, never an
// image with an empty file or a missing directory (mksquashfs's own
// behaviour). As root the pack runs in a copy of the test binary with
// uid/gid 65534; as another user it runs as that user.
func TestPackUnreadableAsUser(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	base, err := os.MkdirTemp("", "bake-pack-user-")
	must(t, err)
	t.Cleanup(func() {
		_ = filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { _ = os.Chmod(p, 0o755); return nil })
		os.RemoveAll(base)
	})
	must(t, os.Chmod(base, 0o755))
	self, err := os.Executable()
	must(t, err)
	bin := filepath.Join(base, "sysextbuild.test")
	copyFile(t, self, bin, 0o755)

	for _, c := range []struct {
		name       string
		unreadable string // made mode 0000
	}{
		{"file", "usr/bin/secret"},
		{"directory", "usr/lib/private"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(base, c.name)
			tree := filepath.Join(dir, "tree")
			out := filepath.Join(dir, "out")
			for _, f := range []string{"usr/bin/hello", "usr/bin/secret", "usr/lib/private/data"} {
				must(t, os.MkdirAll(filepath.Dir(filepath.Join(tree, f)), 0o755))
				must(t, os.WriteFile(filepath.Join(tree, f), []byte("content of "+f+"\n"), 0o644))
			}
			must(t, os.MkdirAll(out, 0o777))
			must(t, os.Chmod(out, 0o777))
			must(t, os.Chmod(dir, 0o755))
			must(t, os.Chmod(filepath.Join(tree, c.unreadable), 0))
			img := filepath.Join(out, "unreadable.raw")

			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), packAsUserEnv+"="+tree, packAsUserEnv+"_OUT="+img)
			if os.Geteuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
			}
			outb, err := cmd.CombinedOutput()
			msg := strings.TrimSpace(string(outb))
			if err == nil {
				list, _ := exec.Command("unsquashfs", "-lls", img).CombinedOutput()
				t.Fatalf("pack as a non-root user succeeded with %s unreadable; image:\n%s", c.unreadable, list)
			}
			t.Logf("refused: %s", msg)
			if !strings.Contains(msg, filepath.Join(tree, c.unreadable)) || !strings.Contains(msg, "unreadable") {
				t.Errorf("error does not name %s: %s", c.unreadable, msg)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("want one line, got:\n%s", msg)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("left %v in the output directory", ents)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	must(t, err)
	_, err = io.Copy(out, in)
	must(t, err)
	must(t, out.Close())
}
