package sysextbuild_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
)

// treePaths are the entries makeTree creates plus the generated ones,
// with their expected permission bits.
var treePaths = map[string]string{
	"usr":                                  "0755",
	"usr/bin":                              "0755",
	"usr/bin/hello":                        "0755",
	"usr/bin/hello2":                       "0755",
	"usr/bin/hi":                           "0777",
	"usr/lib/hello/data.txt":               "0644",
	"usr/lib/hello/secret":                 "0600",
	"usr/lib/systemd/system/hello.service": "0644",
	"usr/share/empty":                      "0750",
	"opt/hello/README":                     "0444",
	"usr/lib/extension-release.d":          "0755",
	"usr/lib/extension-release.d/extension-release.hello": "0644",
}

func packFormat(t *testing.T, f sysextbuild.Format, epoch int64) (tree, img string) {
	t.Helper()
	tree = makeTree(t, time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC))
	before := snapshot(t, tree)
	img = filepath.Join(t.TempDir(), "hello."+string(f))
	_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{
		Dir: tree, Format: f, OS: "flatcar", Arch: flatcar.ArchX86_64, Reload: true, Epoch: epoch, Output: img,
	})
	must(t, err)
	if after := snapshot(t, tree); after != before {
		t.Errorf("input tree was modified")
	}
	return tree, img
}

func TestPackErofs(t *testing.T) {
	testutil.RequireTool(t, "mkfs.erofs", "dump.erofs", "fsck.erofs")
	_, img := packFormat(t, sysextbuild.FormatErofs, testEpoch)
	sb := testutil.Run(t, "dump.erofs", "-s", img)
	if !strings.Contains(sb, "Nov 14 22:13:20 2023") {
		t.Errorf("erofs creation time is not the epoch:\n%s", sb)
	}
	re := regexp.MustCompile(`Uid: (\d+)\s+Gid: (\d+)\s+Access: (\d+)/\S+\s+Timestamp: (\S+ \S+)`)
	for p, mode := range treePaths {
		out := testutil.Run(t, "dump.erofs", "--path=/"+p, img)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("dump.erofs --path=/%s: unexpected output:\n%s", p, out)
			continue
		}
		if m[1] != "0" || m[2] != "0" || m[3] != mode || m[4] != "2023-11-14 22:13:20.000000000" {
			t.Errorf("/%s: uid %s gid %s mode %s time %s; want 0 0 %s 2023-11-14 22:13:20", p, m[1], m[2], m[3], m[4], mode)
		}
	}
	dir := filepath.Join(t.TempDir(), "x")
	testutil.Run(t, "fsck.erofs", "--extract="+dir, img)
	checkExtracted(t, dir)
}

// checkExtracted compares file contents extracted from an image with what
// makeTree wrote, and the generated extension-release with its golden.
func checkExtracted(t *testing.T, dir string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, "usr/lib/hello/data.txt"))
	must(t, err)
	if string(got) != strings.Repeat("data ", 1000) {
		t.Errorf("data.txt content differs")
	}
	if target, err := os.Readlink(filepath.Join(dir, "usr/bin/hi")); err != nil || target != "hello" {
		t.Errorf("usr/bin/hi -> %q, %v; want hello", target, err)
	}
	rel, err := os.ReadFile(filepath.Join(dir, "usr/lib/extension-release.d/extension-release.hello"))
	must(t, err)
	golden(t, "extension-release.flatcar-x86-64-reload", string(rel))
}

func TestPackExt(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "debugfs", "e2fsck")
	for _, f := range []sysextbuild.Format{sysextbuild.FormatExt4, sysextbuild.FormatExt2} {
		for _, epoch := range []int64{testEpoch, 0} {
			t.Run(string(f)+"/"+itoa(epoch), func(t *testing.T) {
				_, img := packFormat(t, f, epoch)
				checkExtImage(t, img, f, epoch)
			})
		}
	}
}

func checkExtImage(t *testing.T, img string, f sysextbuild.Format, epoch int64) {
	t.Helper()
	testutil.Run(t, "e2fsck", "-fn", img)
	hdr := testutil.Run(t, "dumpe2fs", "-h", img)
	if f == sysextbuild.FormatExt4 && strings.Contains(hdr, "has_journal") {
		t.Errorf("ext4 image has a journal")
	}
	if f == sysextbuild.FormatExt2 && strings.Contains(hdr, "extent") {
		t.Errorf("ext2 image has extents")
	}
	hexEpoch := hex8(epoch)
	for _, field := range []string{"Filesystem created", "Last write time", "Last checked"} {
		line := grepLine(hdr, field+":")
		if line == "" && epoch == 0 && field == "Filesystem created" {
			continue // dumpe2fs leaves out a zero creation time
		}
		want := time.Unix(epoch, 0).UTC().Format("Mon Jan _2 15:04:05 2006")
		if !strings.Contains(line, want) {
			t.Errorf("%s: %q, want %s", field, line, want)
		}
	}
	paths := []string{"", "lost+found"}
	for p := range treePaths {
		paths = append(paths, p)
	}
	for _, p := range paths {
		out := debugfs(t, img, "stat \"/"+p+"\"")
		if !regexp.MustCompile(`User:\s+0\s+Group:\s+0\b`).MatchString(out) {
			t.Errorf("/%s not owned by 0:0:\n%s", p, out)
		}
		for _, tf := range []string{"ctime", "atime", "mtime", "crtime"} {
			line := grepLine(out, tf+":")
			if line == "" && f == sysextbuild.FormatExt2 && tf == "crtime" {
				continue
			}
			if !strings.HasPrefix(strings.TrimSpace(line), tf+": "+hexEpoch+":00000000") {
				t.Errorf("/%s %s = %q, want %s", p, tf, line, hexEpoch)
			}
		}
		if mode, ok := treePaths[p]; ok && !strings.Contains(out, "Mode:  "+mode) && !strings.Contains(out, "Mode: "+mode) {
			t.Errorf("/%s: want mode %s:\n%s", p, mode, grepLine(out, "Mode:"))
		}
	}
	dir := t.TempDir()
	debugfs(t, img, "rdump / "+dir)
	checkExtracted(t, dir)
}

// hex8 formats n as debugfs prints times: 0x and 8 lower-case hex digits.
func hex8(n int64) string { return fmt.Sprintf("0x%08x", n) }

func debugfs(t *testing.T, img, cmd string) string {
	t.Helper()
	c := exec.Command("debugfs", "-R", cmd, img)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v", cmd, err)
	}
	return string(out)
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}

func TestPackReproducibleOtherFormats(t *testing.T) {
	for _, f := range []sysextbuild.Format{sysextbuild.FormatErofs, sysextbuild.FormatExt4, sysextbuild.FormatExt2} {
		t.Run(string(f), func(t *testing.T) {
			testutil.RequireTool(t, f.Tools()...)
			checkReproducible(t, f)
		})
	}
}

func TestPackBtrfs(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs")
	_, img := packFormat(t, sysextbuild.FormatBtrfs, testEpoch)
	testutil.Run(t, "btrfs", "check", "--readonly", img)
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "fs", img)
	items := regexp.MustCompile(`(?s)key \((\d+) INODE_ITEM 0\).*?uid (\d+) gid (\d+).*?atime (\d+)\.(\d+).*?ctime (\d+)\.(\d+).*?mtime (\d+)\.(\d+).*?otime (\d+)\.(\d+)`).FindAllStringSubmatch(dump, -1)
	if len(items) < len(treePaths) {
		t.Fatalf("dump-tree shows %d inodes, want at least %d:\n%s", len(items), len(treePaths), dump)
	}
	for _, m := range items {
		if m[2] != "0" || m[3] != "0" {
			t.Errorf("inode %s: uid %s gid %s, want 0 0", m[1], m[2], m[3])
		}
		for i, name := range []string{"atime", "ctime", "mtime", "otime"} {
			if m[4+2*i] != itoa(testEpoch) || m[5+2*i] != "0" {
				t.Errorf("inode %s: %s %s.%s, want %d.0", m[1], name, m[4+2*i], m[5+2*i], testEpoch)
			}
		}
	}
	if strings.Contains(dump, "INODE_ITEM") && len(items) != strings.Count(dump, "INODE_ITEM 0) itemoff") {
		t.Errorf("parsed %d of %d inode items", len(items), strings.Count(dump, "INODE_ITEM 0) itemoff"))
	}
	dir := t.TempDir()
	testutil.Run(t, "btrfs", "restore", "-S", img, dir)
	checkExtracted(t, dir)
}

// TestPackExtOddNames checks that inodes whose names have spaces or
// double quotes are fixed too.
func TestPackExtOddNames(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "debugfs", "e2fsck")
	tree := filepath.Join(t.TempDir(), "odd")
	must(t, os.MkdirAll(filepath.Join(tree, "usr/share/my docs"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "usr/share/my docs/read me"), []byte("x"), 0o644))
	if os.Geteuid() == 0 {
		chownTree(t, tree, 1000, 1000)
	}
	img := filepath.Join(t.TempDir(), "odd.raw")
	_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Format: sysextbuild.FormatExt4, Output: img, Epoch: testEpoch})
	must(t, err)
	testutil.Run(t, "e2fsck", "-fn", img)
	out := debugfs(t, img, `stat "/usr/share/my docs/read me"`)
	if !regexp.MustCompile(`User:\s+0\s+Group:\s+0\b`).MatchString(out) || !strings.Contains(out, "mtime: "+hex8(testEpoch)) {
		t.Errorf("/usr/share/my docs/read me not fixed:\n%s", out)
	}
	must(t, os.WriteFile(filepath.Join(tree, "usr/share/a\"b"), []byte("x"), 0o644))
	if os.Geteuid() == 0 {
		must(t, os.Lchown(filepath.Join(tree, "usr/share/a\"b"), 1000, 1000))
	}
	_, err = sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Format: sysextbuild.FormatExt4, Output: img, Epoch: testEpoch})
	must(t, err)
	// ls -l lines: inode, mode, (type), uid, gid, size, date, name.
	ls := debugfs(t, img, "ls -l /usr/share")
	if line := grepLineContaining(ls, `a"b`); !regexp.MustCompile(`\)\s+0\s+0\s`).MatchString(line) {
		t.Errorf("/usr/share/a\"b not owned by 0:0: %q\n%s", line, ls)
	}
}

func grepLineContaining(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestPackExtMultiGroup packs into a 300 MiB ext4 (three block groups, a
// backup superblock in group 1) to check the backup superblock times and
// the inode fixes beyond group 0.
func TestPackExtMultiGroup(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "debugfs", "dumpe2fs", "e2fsck")
	tree := makeTree(t, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC))
	img := filepath.Join(t.TempDir(), "big.raw")
	_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{
		Dir: tree, Format: sysextbuild.FormatExt4, Output: img, ExtFSSize: 300 << 20,
	})
	must(t, err)
	testutil.Run(t, "e2fsck", "-fn", img)
	backup := testutil.Run(t, "dumpe2fs", "-h", "-o", "superblock=32768", "-o", "blocksize=4096", img)
	if line := grepLine(backup, "Last write time:"); !strings.Contains(line, "Thu Jan  1 00:00:00 1970") {
		t.Errorf("backup superblock write time: %q", line)
	}
	if !strings.Contains(testutil.Run(t, "dumpe2fs", "-h", img), "Block count:              76800") {
		t.Errorf("image is not 300 MiB of 4 KiB blocks")
	}
	for p := range treePaths {
		if out := debugfs(t, img, `stat "/`+p+`"`); !regexp.MustCompile(`User:\s+0\s+Group:\s+0\b`).MatchString(out) || !strings.Contains(out, "ctime: 0x00000000:00000000") {
			t.Errorf("/%s not fixed:\n%s", p, out)
		}
	}
}

// TestPackSymlinkedReleaseDir checks that a tree whose
// usr/lib/extension-release.d is a symlink is refused instead of writing
// through it.
func TestPackSymlinkedReleaseDir(t *testing.T) {
	outside := t.TempDir()
	for _, f := range sysextbuild.Formats() {
		t.Run(string(f), func(t *testing.T) {
			testutil.RequireTool(t, f.Tools()...)
			tree := filepath.Join(t.TempDir(), "evil")
			must(t, os.MkdirAll(filepath.Join(tree, "usr/lib"), 0o755))
			must(t, os.Symlink(outside, filepath.Join(tree, "usr/lib/extension-release.d")))
			_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Format: f, Output: filepath.Join(t.TempDir(), "x.raw")})
			if err == nil || !strings.Contains(err.Error(), "not a directory") {
				t.Errorf("err = %v, want refusal", err)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("Pack wrote through the symlink: %v", entries)
			}
		})
	}
}
