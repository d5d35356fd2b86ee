package sysextbuild_test

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testEpoch is a non-zero epoch so that "every timestamp is the epoch" is
// distinguishable from zeroed fields.
const testEpoch = 1700000000 // 2023-11-14 22:13:20 UTC

// makeTree writes a small sysext tree: files with several modes, a
// symlink, a hard link, an empty directory and content under opt/. When
// running as root it is chowned to 1000:1000 so that root ownership in
// the image is really forced. All timestamps are set to mtime.
func makeTree(t testing.TB, mtime time.Time) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"usr/bin/hello", 0o755, "#!/bin/sh\necho hello\n"},
		{"usr/lib/hello/data.txt", 0o644, strings.Repeat("data ", 1000)},
		{"usr/lib/hello/secret", 0o600, "secret\n"},
		{"usr/lib/systemd/system/hello.service", 0o644, "[Service]\nExecStart=/usr/bin/hello\n"},
		{"opt/hello/README", 0o444, "readme\n"},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(f.data), f.mode))
		must(t, os.Chmod(p, f.mode))
	}
	must(t, os.MkdirAll(filepath.Join(dir, "usr/share/empty"), 0o750))
	must(t, os.Chmod(filepath.Join(dir, "usr/share/empty"), 0o750))
	must(t, os.Symlink("hello", filepath.Join(dir, "usr/bin/hi")))
	must(t, os.Link(filepath.Join(dir, "usr/bin/hello"), filepath.Join(dir, "usr/bin/hello2")))
	if os.Geteuid() == 0 {
		chownTree(t, dir, 1000, 1000)
	}
	touchTree(t, dir, mtime)
	return dir
}

func chownTree(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}))
}

// touchTree sets atime and mtime of everything in dir (not following
// symlinks).
func touchTree(t testing.TB, dir string, tm time.Time) {
	t.Helper()
	var paths []string
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	// Children before parents, so directory times stick.
	for i := len(paths) - 1; i >= 0; i-- {
		ts := []syscall.Timespec{syscall.NsecToTimespec(tm.UnixNano()), syscall.NsecToTimespec(tm.UnixNano())}
		must(t, utimensNoFollow(paths[i], ts))
	}
}

// snapshot describes every entry of a tree (path, mode, owner, size,
// mtime, link target) to detect modifications.
func snapshot(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		target, _ := os.Readlink(p)
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, strings.Join([]string{rel, fi.Mode().String(),
			itoa(int64(st.Uid)), itoa(int64(st.Gid)), itoa(fi.Size()), itoa(fi.ModTime().UnixNano()),
			itoa(int64(st.Nlink)), target}, " "))
		return nil
	}))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// utimensNoFollow sets atime and mtime of p without following a symlink.
func utimensNoFollow(p string, ts []syscall.Timespec) error {
	uts := []unix.Timespec{unix.Timespec(ts[0]), unix.Timespec(ts[1])}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, uts, unix.AT_SYMLINK_NOFOLLOW)
}

// golden compares got with testdata/NAME, rewriting it with -update.
func golden(t testing.TB, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		must(t, os.WriteFile(p, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(p)
	must(t, err)
	if string(want) != got {
		t.Errorf("%s differs from golden file %s (rerun with -update if intended):\ngot:\n%s\nwant:\n%s", name, p, got, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
