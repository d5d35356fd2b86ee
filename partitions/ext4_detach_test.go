package partitions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
)

const mib = 1 << 20

// diskWithExt4 writes dir/disk: 1 MiB of 0xAA, the first partSize bytes
// of an ext4 made for fsSize bytes, then 8 MiB of 0xAA (the neighbours
// an edit must not touch). It returns the disk's path.
func diskWithExt4(t *testing.T, dir string, fsSize, partSize int64) string {
	t.Helper()
	fsImg := filepath.Join(dir, "fs.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", fsImg, fmt.Sprintf("%dM", fsSize/mib))
	fsData, err := os.ReadFile(fsImg)
	if err != nil {
		t.Fatal(err)
	}
	var disk bytes.Buffer
	disk.Write(bytes.Repeat([]byte{0xaa}, mib))
	disk.Write(fsData[:partSize])
	disk.Write(bytes.Repeat([]byte{0xaa}, 8*mib))
	p := filepath.Join(dir, "disk")
	if err := os.WriteFile(p, disk.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// neighboursIntact fails unless the 0xAA bytes around the partition are
// as diskWithExt4 wrote them.
func neighboursIntact(t *testing.T, disk string, partSize int64) {
	t.Helper()
	data, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, mib}, {mib + partSize, int64(len(data))}} {
		if r[1] <= r[0] {
			t.Fatalf("disk %s is cut short", disk)
		}
		for i := r[0]; i < r[1]; i++ {
			if data[i] != 0xaa {
				t.Fatalf("bytes outside the partition changed at offset %d", i)
			}
		}
	}
}

// TestExt4DetachedEditsWaitForCommit: with the partition's size given,
// edits (even once debugfs has written them) are not in the disk until
// Commit, Close without Commit leaves the disk as it was, and a
// committed edit is read back by a fresh editor and passes e2fsck.
func TestExt4DetachedEditsWaitForCommit(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs", "e2fsck")
	dir := t.TempDir()
	const part = 16 * mib
	disk := diskWithExt4(t, dir, part, part)
	before := testutil.FileSHA256(t, disk)
	ctx := context.Background()

	e, err := partitions.OpenExt4(disk, mib, partitions.Ext4Options{Size: part})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile("/etc/extensions/a.raw", strings.NewReader("dropped\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ReadDir("/lost+found"); err != nil { // forces the write
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, disk); got != before {
		t.Fatal("an uncommitted edit reached the disk")
	}
	e.Close()
	if got := testutil.FileSHA256(t, disk); got != before {
		t.Fatal("Close without Commit changed the disk")
	}

	e, err = partitions.OpenExt4(disk, mib, partitions.Ext4Options{Size: part})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.WriteFile("/etc/extensions/b.raw", strings.NewReader("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	neighboursIntact(t, disk, part)
	f, err := partitions.OpenExt4(disk, mib, partitions.Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list, err := f.ReadDir("/etc/extensions")
	if err != nil || len(list) != 1 || list[0].Name != "b.raw" {
		t.Fatalf("after Commit: %+v %v", list, err)
	}
	// e2fsck judges the partition as written back.
	data, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	fsImg := filepath.Join(dir, "check.img")
	if err := os.WriteFile(fsImg, data[mib:mib+part], 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "e2fsck", "-fn", fsImg)
	// No partition copy is left next to the disk.
	e.Close()
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), ".bake-os-tmp-") {
			t.Errorf("left behind: %s", en.Name())
		}
	}
}

// TestExt4DetachedStaysInPartition: an ext4 whose superblock claims more
// blocks than its partition holds (hostile or cut short) makes debugfs
// allocate past the partition's end. Edited in place, that write lands
// in the next partition (shown first, so the test can fail); edited with
// the partition's size, Commit refuses and the disk is unchanged.
func TestExt4DetachedStaysInPartition(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs")
	const fsSize, part = 32 * mib, 8 * mib
	big := bytes.Repeat([]byte("bake-os\n"), 2*mib) // 16 MiB: more than the partition
	write := func(e *partitions.Ext4) error {
		if err := e.WriteFile("/big", bytes.NewReader(big), 0o644); err != nil {
			return err
		}
		return e.Commit(context.Background())
	}

	inPlace := diskWithExt4(t, t.TempDir(), fsSize, part)
	e, err := partitions.OpenExt4(inPlace, mib, partitions.Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := write(e); err != nil {
		t.Fatalf("in place: %v", err)
	}
	data, err := os.ReadFile(inPlace)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data[mib+part:], []byte("bake-os\n")) {
		t.Fatal("in place, the write stayed in the partition: the fixture does not reach past it")
	}

	disk := diskWithExt4(t, t.TempDir(), fsSize, part)
	before := testutil.FileSHA256(t, disk)
	d, err := partitions.OpenExt4(disk, mib, partitions.Ext4Options{Size: part})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = write(d)
	if err == nil || !strings.Contains(err.Error(), "debugfs wrote past the partition") {
		t.Fatalf("detached: %v, want a refusal naming the partition's end", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, disk); got != before {
		t.Fatal("the refused edit changed the disk")
	}
	neighboursIntact(t, disk, part)
}
