// Package rootfstest holds the test fixtures of the root filesystem
// builders: a small root filesystem made from the host's own binaries,
// files and roots opened for a test, tar layers, and the planted victims
// of the hostile-input tests.
package rootfstest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// HostRootfs builds a small merged-usr root filesystem from the host's
// own dynamic binaries and the libraries ldd lists for them. The loader
// path /lib64/ld-linux-*.so.2 is an absolute symlink, which only works if
// it is resolved inside the root.
func HostRootfs(t *testing.T, bins ...string) string {
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
	Write(t, filepath.Join(root, "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n")
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
		CopyHostFile(t, real, filepath.Join(root, "usr/bin", filepath.Base(bin)))
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
			CopyHostFile(t, real, filepath.Join(root, dir, filepath.Base(lib)))
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
		CopyHostFile(t, real, filepath.Join(root, dir, filepath.Base(lib)))
	}
	Write(t, filepath.Join(root, "etc/ld.so.conf.d/libs.conf"), "# test\n"+strings.Join(confDirs, "\n")+"\n")
	return root
}

// CopyHostFile copies the host file src to dst (mode 0755), creating its directory.
func CopyHostFile(t *testing.T, src, dst string) {
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

// OpenRoot opens dir as an os.Root closed at the end of the test.
func OpenRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Write writes content to p (mode 0644), creating its directory.
func Write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Must fails the test on err.
func Must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
