package partitions_test

import (
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
)

// nonRootEnv names the OEM image a re-executed test binary edits as an
// unprivileged user (see TestHelperNonRootChild).
const nonRootEnv = "BAKE_OEM_NONROOT_IMAGE"

// runAsNobody runs TestHelperNonRootChild as uid/gid 65534 over part and
// returns its output.
func runAsNobody(t *testing.T, part, want string) string {
	t.Helper()
	dir := filepath.Dir(part)
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		must(t, os.Chmod(d, 0o777))
	}
	must(t, os.Chmod(part, 0o666))
	// The test binary sits in a private build directory: copy it out.
	bin := filepath.Join(dir, "partitions.test")
	self, err := os.ReadFile(os.Args[0])
	must(t, err)
	must(t, os.WriteFile(bin, self, 0o755))
	defer os.Remove(bin)
	cmd := osexec.Command(bin, "-test.run=^TestHelperNonRootChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), nonRootEnv+"="+part, "BAKE_OEM_NONROOT_WANT="+want, "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHelperNonRootChild") {
		t.Fatalf("editing as uid 65534: %v\n%s", err, out)
	}
	return string(out)
}

// TestHelperNonRootChild is the unprivileged half of the tests below; it
// does nothing unless they run it.
func TestHelperNonRootChild(t *testing.T) {
	part := os.Getenv(nonRootEnv)
	if part == "" {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("child runs as root")
	}
	st, err := os.Stat(part)
	must(t, err)
	want := os.Getenv("BAKE_OEM_NONROOT_WANT")
	ed, err := partitions.OpenBtrfs(context.Background(), part, 0, st.Size(), partitions.BtrfsOptions{WorkDir: filepath.Dir(part), Epoch: 1_600_000_000})
	if err == nil {
		defer ed.Close()
		must(t, ed.WriteFile("/sysext/oem-x.raw", bytes.NewReader([]byte("new sysext\n")), 0o644))
		err = ed.Commit(context.Background())
	}
	if want == "" {
		must(t, err)
		if lost := strings.Join(ed.Lost(), "\n"); lost != "" {
			t.Errorf("non-root rebuild reports losses: %s", lost)
		}
		return
	}
	if err == nil {
		t.Fatalf("Commit as non-root succeeded, want a refusal mentioning %q", want)
	}
	for _, w := range strings.Split(want, "|") {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not mention %q", err, w)
		}
	}
}

// TestBtrfsRebuildNonRootRefuses: as non-root, device nodes and foreign
// owners cannot be rebuilt; the commit is refused and the image kept.
func TestBtrfsRebuildNonRootRefuses(t *testing.T) {
	testutil.RequireTool(t, "unshare", "setpriv")
	part := richOEM(t, nil)
	before := testutil.FileSHA256(t, part)
	runAsNobody(t, part, "/null is a device node|/suid is owned by 123:456|/secret has xattr security.test|--mount")
	if testutil.FileSHA256(t, part) != before {
		t.Error("refused non-root commit changed the image")
	}
}

// TestBtrfsRebuildNonRoot: a root-owned OEM with a FIFO and a hardlink is
// rebuilt by an unprivileged user (user namespace), keeping both, root
// owners and passing btrfs check.
func TestBtrfsRebuildNonRoot(t *testing.T) {
	requireRoot(t)
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs", "unshare")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "d/a"), []byte("linked\n"), 0o600))
	must(t, os.Link(filepath.Join(tree, "d/a"), filepath.Join(tree, "b")))
	must(t, unix.Mkfifo(filepath.Join(tree, "fifo"), 0o600))
	part := filepath.Join(dir, "oem.img")
	must(t, os.WriteFile(part, nil, 0o644))
	must(t, os.Truncate(part, oemSize))
	testutil.Run(t, "mkfs.btrfs", "-q", "-f", "--mixed", "-m", "single", "-d", "single", "-L", "OEM", "--rootdir", tree, part)
	runAsNobody(t, part, "")
	testutil.Run(t, "btrfs", "check", "--readonly", part)
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", part)
	if n := strings.Count(dump, "type FIFO"); n != 2 { // DIR_ITEM and DIR_INDEX
		t.Errorf("FIFO entries: %d, want 2", n)
	}
	if !strings.Contains(dump, "links 2 uid 0 gid 0") {
		t.Error("hardlink pair not one root-owned inode with 2 links")
	}
	if strings.Contains(dump, "uid 65534") {
		t.Error("files recorded as owned by the unprivileged user")
	}
	if !strings.Contains(dump, "name: oem-x.raw") {
		t.Error("the edit is missing")
	}
}
