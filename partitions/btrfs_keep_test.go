package partitions_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	osexec "os/exec"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
)

const oemSize = 128 << 20

// requireRoot fails (under BAKE_TEST_REQUIRE_TOOLS=all) or skips tests
// that make device nodes or loop-mount a fixture.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if strings.Contains(os.Getenv("BAKE_TEST_REQUIRE_TOOLS"), "all") {
		t.Fatal("this test needs root (device nodes, loop mounts)")
	}
	t.Skip("needs root")
}

// richOEM makes a standalone OEM btrfs (mixed, single, label OEM) holding
// a hardlink pair, a symlink, a FIFO, a char device, odd modes and owners,
// xattrs and an old directory, then loop-mounts it to add what
// mkfs.btrfs --rootdir cannot make: a sparse file and, if asked, a
// subvolume or the compression property.
func richOEM(t *testing.T, extra func(mnt string)) string {
	t.Helper()
	requireRoot(t)
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs", "mount", "umount", "losetup")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	w := func(p, s string, mode os.FileMode) {
		t.Helper()
		l := filepath.Join(tree, p)
		must(t, os.MkdirAll(filepath.Dir(l), 0o755))
		must(t, os.WriteFile(l, []byte(s), mode))
		must(t, os.Chmod(l, mode))
	}
	w("hard/a", "linked\n", 0o644)
	must(t, os.Link(filepath.Join(tree, "hard/a"), filepath.Join(tree, "hard/b")))
	must(t, os.Symlink("hard/a", filepath.Join(tree, "sym")))
	must(t, unix.Mkfifo(filepath.Join(tree, "fifo"), 0o640))
	w("secret", "s\n", 0o600)
	must(t, unix.Setxattr(filepath.Join(tree, "hard/a"), "user.test", []byte("v"), 0))
	must(t, unix.Setxattr(filepath.Join(tree, "secret"), "security.test", []byte("sec"), 0))
	w("old/f", "old\n", 0o644)
	old := unix.NsecToTimespec(1_000_000_000 * 1_000_000_000)
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(tree, "old"), []unix.Timespec{old, old}, 0))
	part := filepath.Join(dir, "oem.img")
	must(t, os.WriteFile(part, nil, 0o644))
	must(t, os.Truncate(part, oemSize))
	testutil.Run(t, "mkfs.btrfs", "-q", "-f", "--mixed", "-m", "single", "-d", "single", "-L", "OEM", "--rootdir", tree, part)
	mnt := filepath.Join(dir, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	// An explicit loop device, detached before the rebuild: mkfs.btrfs -U
	// refuses a UUID that a loop device still shows.
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "--find", "--show", part))
	testutil.Run(t, "mount", dev, mnt)
	unmounted := false
	umount := func() {
		if !unmounted {
			testutil.Run(t, "umount", mnt)
			_ = osexec.Command("btrfs", "device", "scan", "--forget", dev).Run()
			testutil.Run(t, "losetup", "-d", dev)
			unmounted = true
		}
	}
	defer umount()
	f, err := os.Create(filepath.Join(mnt, "sparse"))
	must(t, err)
	_, err = f.WriteAt([]byte("end\n"), 3<<20)
	must(t, err)
	must(t, f.Close())
	// mkfs.btrfs 6.2 --rootdir drops device numbers and set-id bits, so
	// these are made through the kernel.
	must(t, unix.Mknod(filepath.Join(mnt, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Chmod(filepath.Join(mnt, "null"), 0o666))
	must(t, unix.Mknod(filepath.Join(mnt, "sock"), unix.S_IFSOCK|0o600, 0))
	// The root directory's own mode and xattrs (restore skips them).
	must(t, unix.Chmod(mnt, 0o751))
	must(t, unix.Setxattr(mnt, "user.rootattr", []byte("top"), 0))
	must(t, os.WriteFile(filepath.Join(mnt, "suid"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Lchown(filepath.Join(mnt, "suid"), 123, 456))
	must(t, unix.Chmod(filepath.Join(mnt, "suid"), 0o4755))
	atime := unix.NsecToTimespec(1_000_000_000 * 1_000_000_000)
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(mnt, "old"), []unix.Timespec{atime, {Nsec: unix.UTIME_OMIT}}, 0))
	if extra != nil {
		extra(mnt)
	}
	umount()
	return part
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// editOEM adds a file to the OEM filesystem with the rootless editor.
func editOEM(t *testing.T, part string, epoch int64) *partitions.Btrfs {
	t.Helper()
	ed, err := partitions.OpenBtrfs(context.Background(), part, 0, oemSize, partitions.BtrfsOptions{WorkDir: t.TempDir(), Epoch: epoch})
	must(t, err)
	t.Cleanup(func() { ed.Close() })
	must(t, ed.WriteFile("/sysext/oem-x.raw", bytes.NewReader([]byte("new sysext\n")), 0o644))
	return ed
}

// TestBtrfsRebuildKeepsOEM edits a rich OEM and reads it back with
// btrfs check, btrfs restore and btrfs inspect-internal dump-tree.
func TestBtrfsRebuildKeepsOEM(t *testing.T) {
	part := richOEM(t, nil)
	before := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", part)
	// With an epoch (older than the fixture) every time the rebuild makes
	// is the epoch, so kept times are told apart from new ones.
	ed := editOEM(t, part, 1_500_000_000)
	must(t, ed.Commit(context.Background()))
	testutil.Run(t, "btrfs", "check", "--readonly", part)
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", part)

	// Hardlinks: both names point at one inode with two links.
	loc := func(name string) string {
		m := regexp.MustCompile(`location key \((\d+) INODE_ITEM 0\) type (\w+)\n.*\n\s+name: ` + regexp.QuoteMeta(name) + `\n`).FindStringSubmatch(dump)
		if m == nil {
			t.Fatalf("no directory entry %q in dump-tree:\n%s", name, dump)
		}
		return m[1] + " " + m[2]
	}
	inode := func(ino string) string {
		m := regexp.MustCompile(`item \d+ key \(` + ino + ` INODE_ITEM 0\)[^\n]*\n[^\n]*\n([^\n]*)\n([^\n]*)`).FindStringSubmatch(dump)
		if m == nil {
			t.Fatalf("no inode %s in dump-tree", ino)
		}
		return m[1] + m[2]
	}
	a, b := loc("a"), loc("b")
	if a != b || !strings.HasSuffix(a, " FILE") {
		t.Errorf("hardlink pair: a is %s, b is %s; want one inode", a, b)
	}
	if in := inode(strings.Fields(a)[0]); !strings.Contains(in, "links 2 ") {
		t.Errorf("hardlinked inode: %s, want links 2", in)
	}
	if l := loc("fifo"); !strings.HasSuffix(l, " FIFO") {
		t.Errorf("fifo is %s", l)
	} else if in := inode(strings.Fields(l)[0]); !strings.Contains(in, "mode 10640 ") {
		t.Errorf("fifo inode: %s, want mode 10640", in)
	}
	if l := loc("null"); !strings.HasSuffix(l, " CHRDEV") {
		t.Errorf("null is %s", l)
	} else if in := inode(strings.Fields(l)[0]); !regexp.MustCompile(fmt.Sprintf(`rdev %d\s`, 1<<20|3)).MatchString(in) || !strings.Contains(in, "mode 20666 ") {
		t.Errorf("char device inode: %s, want mode 20666 and rdev 1:3", in)
	}
	if l := loc("sym"); !strings.HasSuffix(l, " SYMLINK") {
		t.Errorf("sym is %s", l)
	}
	if in := inode(strings.Fields(loc("suid"))[0]); !strings.Contains(in, "mode 104755 ") || !strings.Contains(in, "uid 123 gid 456 ") {
		t.Errorf("suid inode: %s, want mode 104755 uid 123 gid 456", in)
	}
	if in := inode("256"); !strings.Contains(in, "mode 40751 ") {
		t.Errorf("root directory inode: %s, want mode 40751", in)
	}
	if l := strings.Join(ed.Lost(), "\n"); !strings.Contains(l, "xattrs of the root directory") || !strings.Contains(l, "user.rootattr") {
		t.Errorf("Lost() does not report the root directory's xattr:\n%s", l)
	}
	if in := inode(strings.Fields(loc("secret"))[0]); !strings.Contains(in, "mode 100600 ") {
		t.Errorf("secret inode: %s, want mode 100600", in)
	}

	// atime, mtime and otime of untouched entries survive (dump-tree).
	for _, name := range []string{"old", "a", "secret", "suid", "null"} {
		if b, a := inodeTimes(t, before, name), inodeTimes(t, dump, name); b != a {
			t.Errorf("%s: times before %v, after %v", name, b, a)
		}
	}

	out := t.TempDir()
	testutil.Run(t, "btrfs", "restore", "-x", "-m", "-S", part, out)
	for p, want := range map[string]string{"hard/a": "linked\n", "hard/b": "linked\n", "old/f": "old\n", "sysext/oem-x.raw": "new sysext\n"} {
		got, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q %v, want %q", p, got, err, want)
		}
	}
	if tgt, err := os.Readlink(filepath.Join(out, "sym")); err != nil || tgt != "hard/a" {
		t.Errorf("sym -> %q %v", tgt, err)
	}
	for p, x := range map[string]string{"hard/a": "user.test", "secret": "security.test"} {
		buf := make([]byte, 16)
		n, err := unix.Lgetxattr(filepath.Join(out, p), x, buf)
		if err != nil || n == 0 {
			t.Errorf("%s lost xattr %s: %v", p, x, err)
		}
	}
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(out, "old"), &st))
	if st.Mtim.Sec != 1_000_000_000 {
		t.Errorf("old/ mtime %d, want 1000000000", st.Mtim.Sec)
	}
	sp, err := os.ReadFile(filepath.Join(out, "sparse"))
	must(t, err)
	if len(sp) != 3<<20+4 || string(sp[3<<20:]) != "end\n" || bytes.Count(sp[:3<<20], []byte{0}) != 3<<20 {
		t.Errorf("sparse file content changed (len %d)", len(sp))
	}
	// The hole cannot be kept rootless: it must be reported, naming the file.
	lost := strings.Join(ed.Lost(), "\n")
	if !strings.Contains(lost, "sparse files") || !strings.Contains(lost, "/sparse (") {
		t.Errorf("Lost() does not report the filled hole:\n%s", lost)
	}
	if !strings.Contains(lost, "sockets: /sock ") {
		t.Errorf("Lost() does not report the socket:\n%s", lost)
	}
	if strings.Contains(lost, "compression") {
		t.Errorf("Lost() reports compression on an uncompressed OEM:\n%s", lost)
	}
}

// TestBtrfsRebuildCompressionReported: the compression property cannot
// be kept rootless; it is reported, and the COMPRESS inode flag kept.
func TestBtrfsRebuildCompressionReported(t *testing.T) {
	part := richOEM(t, func(mnt string) {
		testutil.Run(t, "btrfs", "property", "set", mnt, "compression", "zlib")
		must(t, os.WriteFile(filepath.Join(mnt, "z"), bytes.Repeat([]byte("compress me "), 100000), 0o644))
	})
	ed := editOEM(t, part, 0)
	lost := strings.Join(ed.Lost(), "\n")
	if !strings.Contains(lost, "compression") || !strings.Contains(lost, "/z") || !strings.Contains(lost, "btrfs.compression") {
		t.Errorf("Lost() does not report compression:\n%s", lost)
	}
	must(t, ed.Commit(context.Background()))
	testutil.Run(t, "btrfs", "check", "--readonly", part)
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", part)
	if !strings.Contains(dump, "flags 0x800(COMPRESS)") {
		t.Error("COMPRESS inode flag lost")
	}
}

// TestBtrfsRebuildRefusesSubvolume: a subvolume cannot be recreated, so
// the commit is refused and the image left as it was.
func TestBtrfsRebuildRefusesSubvolume(t *testing.T) {
	part := richOEM(t, func(mnt string) {
		testutil.Run(t, "btrfs", "subvolume", "create", filepath.Join(mnt, "sub"))
	})
	before := testutil.FileSHA256(t, part)
	ed := editOEM(t, part, 0)
	err := ed.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "subvolume") || !strings.Contains(err.Error(), "--mount") {
		t.Fatalf("Commit over a subvolume: %v, want a refusal naming subvolumes and --mount", err)
	}
	if after := testutil.FileSHA256(t, part); after != before {
		t.Error("refused commit changed the image")
	}
}

// TestBtrfsRebuildReproducible: the same edit of the same OEM with the
// same epoch gives the same bytes, and btrfs check passes.
func TestBtrfsRebuildReproducible(t *testing.T) {
	part := richOEM(t, nil)
	var sums, parts []string
	for i := 0; i < 2; i++ {
		cp := filepath.Join(t.TempDir(), "oem.img")
		testutil.Run(t, "cp", "--sparse=always", part, cp)
		ed := editOEM(t, cp, 1_700_000_000)
		must(t, ed.Commit(context.Background()))
		testutil.Run(t, "btrfs", "check", "--readonly", cp)
		sums = append(sums, testutil.FileSHA256(t, cp))
		parts = append(parts, cp)
	}
	if sums[0] != sums[1] {
		out, _ := osexec.Command("sh", "-c", "cmp -l "+parts[0]+" "+parts[1]+" | head -8").CombinedOutput()
		t.Errorf("two rebuilds differ: %s vs %s\n%s", sums[0], sums[1], out)
	}
}

// inodeTimes reads atime, mtime and otime of the entry called name from a
// dump-tree listing.
func inodeTimes(t *testing.T, dump, name string) [3]string {
	t.Helper()
	m := regexp.MustCompile(`location key \((\d+) INODE_ITEM 0\)[^\n]*\n.*\n\s+name: ` + regexp.QuoteMeta(name) + `\n`).FindStringSubmatch(dump)
	if m == nil {
		t.Fatalf("no entry %q in dump-tree", name)
	}
	tm := regexp.MustCompile(`item \d+ key \(` + m[1] + ` INODE_ITEM 0\)(?:[^\n]*\n){4}\s+atime (\S+)[^\n]*\n[^\n]*\n\s+mtime (\S+)[^\n]*\n\s+otime (\S+)`).FindStringSubmatch(dump)
	if tm == nil {
		t.Fatalf("no inode times for %q", name)
	}
	return [3]string{tm[1], tm[2], tm[3]}
}

// TestBtrfsRebuildKeepsManyHardlinks: past what one INODE_REF item holds,
// btrfs keeps names in INODE_EXTREF items; they are hardlinks too.
func TestBtrfsRebuildKeepsManyHardlinks(t *testing.T) {
	part := richOEM(t, func(mnt string) {
		must(t, os.MkdirAll(filepath.Join(mnt, "many"), 0o755))
		first := filepath.Join(mnt, "many", "link-000")
		must(t, os.WriteFile(first, []byte("one inode\n"), 0o644))
		for i := 1; i < 120; i++ {
			must(t, os.Link(first, filepath.Join(mnt, "many", fmt.Sprintf("link-%03d-%s", i, strings.Repeat("x", 50)))))
		}
	})
	if !strings.Contains(testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", part), "INODE_EXTREF") {
		t.Fatal("fixture has no INODE_EXTREF item: the test shows nothing")
	}
	ed := editOEM(t, part, 0)
	must(t, ed.Commit(context.Background()))
	testutil.Run(t, "btrfs", "check", "--readonly", part)
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", part)
	if !strings.Contains(dump, "links 120 ") {
		t.Error("the 120 names are not one inode with 120 links after the rebuild")
	}
}
