package sysextbuild

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeHostRootfs builds a small merged-usr root filesystem from the host's
// own dynamic binaries and the libraries ldd lists for them. The loader
// path /lib64/ld-linux-*.so.2 is an absolute symlink, which only works if
// it is resolved inside the root.
func makeHostRootfs(t *testing.T, bins ...string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"usr/lib", "usr/lib64", "usr/bin", "etc/ld.so.conf.d", "usr/share"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{{"lib", "usr/lib"}, {"lib64", "usr/lib64"}, {"bin", "usr/bin"}} {
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	fxWrite(t, filepath.Join(root, "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n")
	libs := map[string]bool{}
	for _, bin := range bins {
		hostBin, err := exec.LookPath(bin)
		if err != nil {
			t.Skipf("host binary %s not found", bin)
		}
		real, err := filepath.EvalSymlinks(hostBin)
		if err != nil {
			t.Fatal(err)
		}
		copyHostFile(t, real, filepath.Join(root, "usr/bin", filepath.Base(bin)))
		out, err := exec.Command("ldd", real).Output()
		if err != nil {
			t.Skipf("ldd %s: %v (not a dynamic binary?)", real, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				libs[f[2]] = true
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				libs[f[0]] = true // the loader
			}
		}
	}
	var confDirs []string
	for lib := range libs {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(filepath.Base(lib), "ld-linux") || strings.Contains(filepath.Base(lib), "ld64") {
			// Real file under usr/lib/<triplet>/, absolute link at the
			// loader path.
			dir := "/usr/lib/loader"
			copyHostFile(t, real, filepath.Join(root, dir, filepath.Base(lib)))
			if err := os.MkdirAll(filepath.Join(root, filepath.Dir(lib)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(dir+"/"+filepath.Base(lib), filepath.Join(root, lib)); err != nil && !errors.Is(err, os.ErrExist) {
				t.Fatal(err)
			}
			continue
		}
		// Libraries go where the host has them (a multiarch directory
		// only ld.so.conf.d names, on Debian).
		dir := filepath.Dir(real)
		confDirs = append(confDirs, dir)
		copyHostFile(t, real, filepath.Join(root, dir, filepath.Base(lib)))
	}
	fxWrite(t, filepath.Join(root, "etc/ld.so.conf.d/libs.conf"), "# test\n"+strings.Join(confDirs, "\n")+"\n")
	return root
}

func copyHostFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// fxOpenRoot opens dir as an os.Root closed at the end of the test.
func fxOpenRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func fxWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRootfsResolve(t *testing.T) {
	root := t.TempDir()
	fxWrite(t, filepath.Join(root, "usr/lib/x/real"), "x")
	fxMust(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))
	fxMust(t, os.Symlink("/usr/lib/x/real", filepath.Join(root, "usr/lib/abs")))
	fxMust(t, os.Symlink("../../../../etc/passwd", filepath.Join(root, "usr/lib/escape")))
	fxMust(t, os.Symlink("loop2", filepath.Join(root, "loop1")))
	fxMust(t, os.Symlink("loop1", filepath.Join(root, "loop2")))
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
		got, err := rootfsResolve(fxOpenRoot(t, root), tc.in, tc.follow)
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
	if _, err := rootfsResolve(fxOpenRoot(t, root), "loop1", true); err == nil {
		t.Error("symlink loop resolved")
	}
	if _, err := rootfsCleanArg("/usr/bin/../../etc"); !errors.Is(err, ErrPathEscapes) {
		t.Errorf("cleanArg with .. = %v", err)
	}
	for _, bad := range []string{"/etc/x", "/etc/x:/etc/y", "/usr/../etc:/usr/x", "/usr/x:/usr/../../y"} {
		if _, _, err := rootfsSplitMapping(bad); err == nil {
			t.Errorf("mapping %q accepted", bad)
		}
	}
	if s, d, err := rootfsSplitMapping("/bin/busybox:/usr/bin/busybox"); err != nil || s != "bin/busybox" || d != "usr/bin/busybox" {
		t.Errorf("mapping = %q %q %v", s, d, err)
	}
}

func fxMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
