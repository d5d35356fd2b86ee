package partitions_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
)

// debugfsOn lists the pids of debugfs processes working on image.
func debugfsOn(image string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "debugfs" && bytes.Contains(cmdline, []byte(image)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestExt4CancelStopsWrite cancels the context while debugfs writes a
// large file: Commit returns at once with an error wrapping
// context.Canceled, and no debugfs process is left.
func TestExt4CancelStopsWrite(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1", img, "2G")
	// 512 MiB of data debugfs cannot skip as holes.
	src := filepath.Join(dir, "big")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte("bake-os\n"), 1<<17) // 1 MiB
	for i := 0; i < 512; i++ {
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := partitions.OpenExt4(img, 0, partitions.Ext4Options{Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.WriteFile("/big", f, 0o644); err != nil {
		t.Fatal(err)
	}
	var cancelled time.Time
	go func() {
		// Cancel once debugfs is writing.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if len(debugfsOn(img)) > 0 {
				time.Sleep(200 * time.Millisecond)
				break
			}
		}
		cancelled = time.Now()
		cancel()
	}()
	err = e.Commit(ctx)
	returned := time.Now()
	if err == nil {
		t.Fatal("the write finished before the cancel: make the file bigger")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error does not wrap context.Canceled: %v", err)
	}
	if d := returned.Sub(cancelled); d > 3*time.Second {
		t.Errorf("Commit returned %v after the cancel", d)
	}
	if pids := debugfsOn(img); len(pids) > 0 {
		t.Errorf("debugfs still running on %s: pids %v", img, pids)
	}
	t.Logf("%v (returned %v after the cancel)", err, returned.Sub(cancelled))
}

// TestExt4NotFoundByLookup checks that ReadDir tells a missing directory
// (fs.ErrNotExist) from a path through a regular file, whose debugfs
// message holds the words "File not found" in the file's name: not found
// is decided by looking the entry up, not by debugfs' wording.
func TestExt4NotFoundByLookup(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	const odd = "File not found by ext2_lookup"
	if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, odd), []byte("a file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-d", root, img, "16M")
	e, err := partitions.OpenExt4(img, 0, partitions.Ext4Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, p := range []string{"/nope", "/d/nope", "/nope/deeper"} {
		if _, err := e.ReadDir(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadDir(%s): %v, want fs.ErrNotExist", p, err)
		}
	}
	for _, p := range []string{"/" + odd, "/" + odd + "/x"} {
		_, err := e.ReadDir(p)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadDir(%q): %v, want an error that is not fs.ErrNotExist", p, err)
		}
		if err != nil && strings.Contains(err.Error(), "<nil>") {
			t.Errorf("ReadDir(%q): a nil error in the message: %v", p, err)
		}
	}
	if _, err := e.ReadDir("/d"); err != nil {
		t.Errorf("ReadDir(/d): %v", err)
	}
}
