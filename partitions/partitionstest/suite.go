// Package partitionstest is the conformance suite every partitions.Editor
// backend passes: the same edits, judged by the filesystem's own checker
// and read back with an independent tool rather than with the editor.
package partitionstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/partitions"
)

// Backend describes one editor backend under test.
type Backend struct {
	Name string
	// Open opens a fresh editor over a new test image.
	Open func(t *testing.T) partitions.Editor
	// Reopen opens the same filesystem again after Commit/Close.
	Reopen func(t *testing.T) partitions.Editor
	// Check runs the filesystem checker; it fails the test on errors.
	Check func(t *testing.T)
	// Extract unpacks the filesystem with an independent tool into a
	// directory and returns it (owners, modes and symlinks preserved).
	Extract func(t *testing.T) string
}

// Run runs the suite for a writable backend.
func Run(t *testing.T, b Backend) {
	t.Helper()
	ctx := context.Background()
	ed := b.Open(t)
	free0, err := ed.FreeBytes()
	if err != nil {
		t.Fatalf("FreeBytes: %v", err)
	}
	payload := make([]byte, 3<<20+123)
	rand.Read(payload)
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	sf, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %s: %v", b.Name, what, err)
		}
	}
	must("MkdirAll", ed.MkdirAll("/opt/extensions/deep", 0o755))
	must("WriteFile from *os.File", ed.WriteFile("/opt/extensions/deep/big.raw", sf, 0o644))
	must("WriteFile from reader", ed.WriteFile("/etc/sysupdate.x.d/x.conf", bytes.NewReader([]byte("[Transfer]\n")), 0o644))
	must("WriteFile replace", ed.WriteFile("/etc/sysupdate.x.d/x.conf", bytes.NewReader([]byte("[Transfer]\nVerify=false\n")), 0o644))
	must("MkdirAll existing", ed.MkdirAll("/etc/extensions", 0o755))
	must("Symlink", ed.Symlink("/opt/extensions/deep/big.raw", "/etc/extensions/x.raw"))
	must("Symlink replace", ed.Symlink("/dev/null", "/etc/extensions/x.raw"))
	long := "/opt/extensions/deep/" + string(bytes.Repeat([]byte("l"), 90)) + ".raw"
	must("Symlink long", ed.Symlink(long, "/etc/extensions/long.raw"))
	must("WriteFile exec", ed.WriteFile("/opt/bin/tool", bytes.NewReader([]byte("#!/bin/sh\n")), 0o600))
	must("Chmod", ed.Chmod("/opt/bin/tool", 0o755))
	must("Chown", ed.Chown("/opt/bin/tool", 0, 0))

	must("WriteFile to remove", ed.WriteFile("/opt/gone/a.raw", bytes.NewReader([]byte("x")), 0o644))
	must("Symlink to remove", ed.Symlink("/opt/gone/a.raw", "/opt/gone/a-link"))
	if err := ed.Remove("/opt/gone"); err == nil {
		t.Errorf("%s: Remove of a non-empty directory succeeded", b.Name)
	}
	must("Remove file", ed.Remove("/opt/gone/a.raw"))
	must("Remove symlink", ed.Remove("/opt/gone/a-link"))
	must("Remove empty dir", ed.Remove("/opt/gone"))
	if _, err := ed.Stat("/opt/gone"); err == nil {
		t.Errorf("%s: Stat of a removed directory succeeded", b.Name)
	}

	fi, err := ed.Stat("/opt/extensions/deep/big.raw")
	must("Stat before commit", err)
	if fi.Size != int64(len(payload)) || !fi.Mode.IsRegular() {
		t.Errorf("%s: Stat big.raw = %+v", b.Name, fi)
	}
	must("Commit", ed.Commit(ctx))
	free1, err := ed.FreeBytes()
	must("FreeBytes after", err)
	if free1 > free0-int64(len(payload)) {
		t.Errorf("%s: free space %d -> %d after writing %d bytes", b.Name, free0, free1, len(payload))
	}
	must("Close", ed.Close())

	// Independent judges.
	b.Check(t)
	dir := b.Extract(t)
	wantSum := sha256.Sum256(payload)
	checkFile(t, b.Name, filepath.Join(dir, "opt/extensions/deep/big.raw"), wantSum[:], 0o644)
	checkContent(t, b.Name, filepath.Join(dir, "etc/sysupdate.x.d/x.conf"), "[Transfer]\nVerify=false\n")
	checkFile(t, b.Name, filepath.Join(dir, "opt/bin/tool"), nil, 0o755)
	checkLink(t, b.Name, filepath.Join(dir, "etc/extensions/x.raw"), "/dev/null")
	checkLink(t, b.Name, filepath.Join(dir, "etc/extensions/long.raw"), long)
	for _, d := range []string{"opt", "opt/extensions", "opt/extensions/deep", "etc/sysupdate.x.d", "etc/extensions", "opt/bin"} {
		checkDir(t, b.Name, filepath.Join(dir, d))
	}
	if _, err := os.Lstat(filepath.Join(dir, "opt/gone")); err == nil {
		t.Errorf("%s: removed /opt/gone is in the filesystem", b.Name)
	}

	// The editor reads back what it wrote after reopening.
	ed = b.Reopen(t)
	r, err := ed.Open("/opt/extensions/deep/big.raw")
	must("Open", err)
	h := sha256.New()
	io.Copy(h, r)
	r.Close()
	if !bytes.Equal(h.Sum(nil), wantSum[:]) {
		t.Errorf("%s: Open read back different content", b.Name)
	}
	list, err := ed.ReadDir("/etc/extensions")
	must("ReadDir", err)
	if len(list) != 2 || list[0].Name != "long.raw" || list[0].LinkTarget != long || list[1].LinkTarget != "/dev/null" {
		t.Errorf("%s: ReadDir /etc/extensions = %+v", b.Name, list)
	}
	if _, err := ed.Stat("/nope"); err == nil {
		t.Errorf("%s: Stat of a missing path succeeded", b.Name)
	}

	// Removing what the filesystem already held before this editor opened
	// it (a rebake replacing an old sysext does that).
	must("Remove existing file", ed.Remove("/opt/extensions/deep/big.raw"))
	must("Commit after Remove", ed.Commit(ctx))
	must("Close after Remove", ed.Close())
	b.Check(t)
	dir = b.Extract(t)
	if _, err := os.Lstat(filepath.Join(dir, "opt/extensions/deep/big.raw")); err == nil {
		t.Errorf("%s: removed /opt/extensions/deep/big.raw is in the filesystem", b.Name)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/extensions/long.raw")); err != nil {
		t.Errorf("%s: a removal lost another path: %v", b.Name, err)
	}
}

func owner(t *testing.T, fi os.FileInfo) (int, int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatal("no stat_t")
	}
	return int(st.Uid), int(st.Gid)
}

func checkFile(t *testing.T, name, p string, sum []byte, perm fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != perm {
		t.Errorf("%s: %s mode %v, want regular %v", name, p, fi.Mode(), perm)
	}
	if u, g := owner(t, fi); u != 0 || g != 0 {
		t.Errorf("%s: %s owned by %d:%d, want 0:0", name, p, u, g)
	}
	if sum != nil {
		data, _ := os.ReadFile(p)
		got := sha256.Sum256(data)
		if !bytes.Equal(got[:], sum) {
			t.Errorf("%s: %s content differs", name, p)
		}
	}
}

func checkContent(t *testing.T, name, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || string(got) != want {
		t.Errorf("%s: %s = %q, %v; want %q", name, p, got, err, want)
	}
}

func checkLink(t *testing.T, name, p, want string) {
	t.Helper()
	got, err := os.Readlink(p)
	if err != nil || got != want {
		t.Errorf("%s: link %s -> %q, %v; want %q", name, p, got, err, want)
	}
}

func checkDir(t *testing.T, name, p string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("%s: %s mode %v, want dir 0755", name, p, fi.Mode())
	}
	if u, g := owner(t, fi); u != 0 || g != 0 {
		t.Errorf("%s: %s owned by %d:%d", name, p, u, g)
	}
}
