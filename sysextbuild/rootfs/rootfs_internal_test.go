package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

func TestRootfsResolve(t *testing.T) {
	root := t.TempDir()
	rootfstest.Write(t, filepath.Join(root, "usr/lib/x/real"), "x")
	rootfstest.Must(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))
	rootfstest.Must(t, os.Symlink("/usr/lib/x/real", filepath.Join(root, "usr/lib/abs")))
	rootfstest.Must(t, os.Symlink("../../../../etc/passwd", filepath.Join(root, "usr/lib/escape")))
	rootfstest.Must(t, os.Symlink("loop2", filepath.Join(root, "loop1")))
	rootfstest.Must(t, os.Symlink("loop1", filepath.Join(root, "loop2")))
	for _, tc := range []struct {
		in, want string
		follow   bool
		err      error
	}{
		{"lib/x/real", "usr/lib/x/real", true, nil},
		{"lib/abs", "usr/lib/x/real", true, nil},
		{"lib/abs", "usr/lib/abs", false, nil},
		{"lib/missing/y", "usr/lib/missing/y", true, nil},
		{"lib/escape", "", true, ErrPathEscapes},
		{"lib/escape", "usr/lib/escape", false, nil},
		{"lib/escape/z", "", false, ErrPathEscapes},
		{"../etc", "", true, ErrPathEscapes},
	} {
		got, err := Resolve(rootfstest.OpenRoot(t, root), tc.in, tc.follow)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("resolve(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolve(%q, %v) = %q, %v; want %q", tc.in, tc.follow, got, err, tc.want)
		}
	}
	if _, err := Resolve(rootfstest.OpenRoot(t, root), "loop1", true); err == nil {
		t.Error("symlink loop resolved")
	}
	if _, err := CleanArg("/usr/bin/../../etc"); !errors.Is(err, ErrPathEscapes) {
		t.Errorf("cleanArg with .. = %v", err)
	}
	for _, bad := range []string{"/etc/x", "/etc/x:/etc/y", "/usr/../etc:/usr/x", "/usr/x:/usr/../../y"} {
		if _, _, err := SplitMapping(bad); err == nil {
			t.Errorf("mapping %q accepted", bad)
		}
	}
	if s, d, err := SplitMapping("/bin/busybox:/usr/bin/busybox"); err != nil || s != "bin/busybox" || d != "usr/bin/busybox" {
		t.Errorf("mapping = %q %q %v", s, d, err)
	}
}
