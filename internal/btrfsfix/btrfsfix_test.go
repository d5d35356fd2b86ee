package btrfsfix_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	osexec "os/exec"

	"github.com/bake-os/bake-os/internal/btrfsfix"
	"github.com/bake-os/bake-os/internal/testutil"
)

const fsid = "5e1f0c1a-0000-4000-8000-00000000b7f5"

// mkfs makes a small btrfs from tree with mkfs.btrfs itself: every run
// picks new device, chunk-tree and subvolume UUIDs.
func mkfs(t *testing.T, tree string, uuid ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(out, 128<<20); err != nil {
		t.Fatal(err)
	}
	u := fsid
	if len(uuid) > 0 {
		u = uuid[0]
	}
	testutil.Run(t, "mkfs.btrfs", "-q", "-f", "--mixed", "-m", "single", "-d", "single", "-U", u, "--rootdir", tree, out)
	return out
}

func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < 40; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d/f%d", i%5, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 5000*i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func superField(t *testing.T, img, field string) string {
	t.Helper()
	for _, l := range strings.Split(testutil.Run(t, "btrfs", "inspect-internal", "dump-super", img), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == field {
			return f[1]
		}
	}
	t.Fatalf("dump-super has no %s", field)
	return ""
}

// TestFixMakesMkfsReproducible: two mkfs.btrfs runs over one directory
// differ; after Fix with the same IDs and epoch they are byte-identical,
// btrfs check passes, and the tools read back the UUIDs we chose.
func TestFixMakesMkfsReproducible(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs")
	dir := tree(t)
	// b is made with another filesystem UUID, which Fix replaces too.
	a, b := mkfs(t, dir), mkfs(t, dir, "0badc0de-0000-4000-8000-000000000001")
	if sum(t, a) == sum(t, b) {
		t.Fatal("two plain mkfs.btrfs runs are identical: the test cannot show anything")
	}
	u, err := btrfsfix.ParseUUID(fsid)
	if err != nil {
		t.Fatal(err)
	}
	ids := btrfsfix.DerivedIDs(u)
	for _, img := range []string{a, b} {
		if err := btrfsfix.Fix(img, btrfsfix.Options{RootOwners: true, Epoch: 1_600_000_000, HaveEpoch: true, IDs: ids}); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "btrfs", "check", "--readonly", img)
	}
	if sum(t, a) != sum(t, b) {
		t.Error("two fixed images differ")
	}
	if got := superField(t, b, "fsid"); got != fsid {
		t.Errorf("fsid %s, want %s", got, fsid)
	}
	if d := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", b); strings.Count(d, "fs uuid "+fsid) != strings.Count(d, "fs uuid ") {
		t.Errorf("%d of %d tree blocks carry the new fsid", strings.Count(d, "fs uuid "+fsid), strings.Count(d, "fs uuid "))
	}
	dev := superField(t, a, "dev_item.uuid")
	if got, err := btrfsfix.ParseUUID(dev); err != nil || got != ids.Dev {
		t.Errorf("dev_item.uuid %s, want %x", dev, ids.Dev)
	}
	// The copy at 64 MiB must carry the same device UUID and a valid
	// checksum.
	mirror := testutil.Run(t, "btrfs", "inspect-internal", "dump-super", "-s", "1", a)
	if !strings.Contains(mirror, dev) || !strings.Contains(mirror, "[match]") || !strings.Contains(mirror, "bytenr\t\t\t67108864") {
		t.Errorf("superblock copy 1 not rewritten:\n%s", mirror)
	}
	dump := testutil.Run(t, "btrfs", "inspect-internal", "dump-tree", a)
	chunk := fmt.Sprintf("chunk uuid %x-%x-%x-%x-%x", ids.ChunkTree[0:4], ids.ChunkTree[4:6], ids.ChunkTree[6:8], ids.ChunkTree[8:10], ids.ChunkTree[10:16])
	if n, m := strings.Count(dump, chunk), strings.Count(dump, "chunk uuid"); n == 0 || n != m {
		t.Errorf("%d of %d tree blocks carry the chosen chunk-tree UUID", n, m)
	}
	c, err := btrfsfix.Scan(a)
	if err != nil {
		t.Fatal(err)
	}
	if c.IDs != ids {
		t.Errorf("Scan reads IDs %x, want %x", c.IDs, ids)
	}
	if c.FSID != u {
		t.Errorf("Scan reads fsid %x", c.FSID)
	}
}

// TestFixRefusesCorruptBlock: a tree block with a bad checksum is
// refused, not patched over.
func TestFixRefusesCorruptBlock(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs")
	img := mkfs(t, tree(t))
	// The root tree's root block, from the superblock.
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	root := superField(t, img, "root")
	var logical int64
	fmt.Sscan(root, &logical)
	// In a fresh single-device mixed image the root tree lives in a
	// chunk mapped 1:1 or at an offset: find the block by its header.
	buf := make([]byte, 4096)
	found := int64(-1)
	for off := int64(0); off < 128<<20; off += 4096 {
		if _, err := f.ReadAt(buf, off); err != nil {
			break
		}
		if int64(le64(buf[0x30:])) == logical && string(buf[0x20:0x24]) != "\x00\x00\x00\x00" {
			found = off
			break
		}
	}
	if found < 0 {
		t.Fatal("root tree block not found")
	}
	if _, err := f.WriteAt([]byte{0xff, 0xee}, found+0x70); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = btrfsfix.Fix(img, btrfsfix.Options{HaveEpoch: true, Epoch: 1})
	if err == nil || !strings.Contains(err.Error(), "bad checksum") {
		t.Fatalf("Fix over a corrupt block: %v, want a checksum error", err)
	}
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func TestParseUUID(t *testing.T) {
	u, err := btrfsfix.ParseUUID("01234567-89ab-CDEF-0123-456789abcdef")
	if err != nil || u != [16]byte{1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef} {
		t.Errorf("ParseUUID = %x %v", u, err)
	}
	for _, bad := range []string{"", "0123", "01234567-89ab-cdef-0123-456789abcdeg", "01234567-89ab-cdef-0123-456789abcdef00"} {
		if _, err := btrfsfix.ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) accepted", bad)
		}
	}
}

// TestMkfsCancelKillsTools: cancelling Mkfs ends the script's tools and
// returns within a second or so.
func TestMkfsCancelKillsTools(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "unshare", "tar")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	// 300 MiB of data keeps tar and mkfs.btrfs busy past the cancel.
	big := filepath.Join(tree, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{1}, 1<<20)
	for i := 0; i < 300; i++ {
		f.Write(buf)
	}
	f.Close()
	out := filepath.Join(dir, "fs.img")
	os.WriteFile(out, nil, 0o644)
	os.Truncate(out, 1<<30)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- btrfsfix.Mkfs(ctx, tree, mnt, 2<<30, "-q", "-f", out) }()
	running := func() string {
		ps, _ := osexec.Command("sh", "-c", "ps -eo args | grep -F -- "+dir+" | grep -v grep").Output()
		return string(ps)
	}
	for i := 0; i < 100 && !strings.Contains(running(), "tar -C"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(running(), "tar -C") {
		t.Fatalf("tar never seen running:\n%s", running())
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Skip("mkfs finished before the cancel")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Mkfs returned %v after the cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Mkfs did not return after the cancel")
	}
	if ps := running(); ps != "" {
		t.Errorf("tools still running after the cancel:\n%s", ps)
	}
}
