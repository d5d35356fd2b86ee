package cpio_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/cpio"
	"github.com/bake-os/bake-os/internal/testutil"
)

// TestWriterReadBack writes files with nested directories and reads the
// archive back with GNU cpio: the listing (parents first, each once), the
// modes and the contents.
func TestWriterReadBack(t *testing.T) {
	testutil.RequireTool(t, "cpio")
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf, 1700000000)
	data := []byte(`{"ignition":{"version":"3.4.0"}}`)
	if err := w.File("usr/share/oem/config.ign", 0o644, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.File("usr/share/oem/b", 0o600, 3); err != nil { // parents not repeated
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive of %d bytes is not 4-aligned", buf.Len())
	}
	list := run(t, "", buf.Bytes(), "cpio", "-t", "--quiet")
	if want := "usr\nusr/share\nusr/share/oem\nusr/share/oem/config.ign\nusr/share/oem/b\n"; list != want {
		t.Errorf("cpio -t:\n%s\nwant:\n%s", list, want)
	}
	long := run(t, "", buf.Bytes(), "cpio", "-tv", "--quiet")
	for _, want := range []string{"drwxr-xr-x", "-rw-r--r--", "-rw-------", "root"} {
		if !strings.Contains(long, want) {
			t.Errorf("cpio -tv lacks %q:\n%s", want, long)
		}
	}
	dir := t.TempDir()
	run(t, dir, buf.Bytes(), "cpio", "-idm", "--quiet")
	if b, err := os.ReadFile(filepath.Join(dir, "usr/share/oem/config.ign")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("config.ign read back %q, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "usr/share/oem/b")); string(b) != "abc" {
		t.Errorf("b read back %q", b)
	}
	if st, err := os.Stat(filepath.Join(dir, "usr/share/oem/config.ign")); err != nil || st.ModTime().Unix() != 1700000000 {
		t.Errorf("mtime: %v %v", st, err)
	}
}

// TestWriterRefuses: names that would land outside the unpacking root,
// more or less data than announced, a file over a directory.
func TestWriterRefuses(t *testing.T) {
	for _, name := range []string{"/etc/passwd", "../x", "a/../../x", "a//b", ".", ""} {
		w := cpio.NewWriter(&bytes.Buffer{}, 0)
		if err := w.File(name, 0o644, 0); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	w := cpio.NewWriter(&bytes.Buffer{}, 0)
	w.File("a", 0o644, 2)
	if _, err := w.Write([]byte("abc")); err == nil {
		t.Error("3 bytes into a 2-byte entry accepted")
	}
	w = cpio.NewWriter(&bytes.Buffer{}, 0)
	w.File("a", 0o644, 2)
	w.Write([]byte("a"))
	if err := w.Close(); err == nil {
		t.Error("a short last file accepted")
	}
	w = cpio.NewWriter(&bytes.Buffer{}, 0)
	w.Dir("a/b", 0o755)
	if err := w.File("a/b", 0o644, 0); err == nil {
		t.Error("a file over a directory accepted")
	}
}

func run(t *testing.T, dir string, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
