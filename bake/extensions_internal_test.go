package bake

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// TestExtensionReleaseDDI reads the extension-release of an extension
// built as Flatcar builds them since late 2025: a disk image whose first
// partition is dm-verity-like data (no filesystem) and whose second holds
// the erofs. A disk image without a filesystem and a file that is neither
// are refused.
func TestExtensionReleaseDDI(t *testing.T) {
	testutil.RequireTool(t, "mkfs.erofs", "fsck.erofs", "dump.erofs", "sgdisk", "dd")
	ctx := context.Background()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	rel := filepath.Join(tree, "usr/lib/extension-release.d/extension-release.flatcar-podman")
	os.MkdirAll(filepath.Dir(rel), 0o755)
	os.WriteFile(rel, []byte("ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\n"), 0o644)
	fs := filepath.Join(dir, "fs.erofs")
	testutil.Run(t, "mkfs.erofs", "--quiet", fs, tree)
	st, _ := os.Stat(fs)
	fsSectors := (st.Size() + 511) / 512
	noise := make([]byte, 1<<20)
	rand.Read(noise)
	junk := filepath.Join(dir, "verity")
	os.WriteFile(junk, noise, 0o644)

	ddi := func(withFS bool) string {
		p := filepath.Join(dir, fmt.Sprintf("ddi-%v.raw", withFS))
		os.WriteFile(p, nil, 0o644)
		os.Truncate(p, (2048+2048+fsSectors+2048)*512)
		args := []string{"-o", "-n", "1:2048:+1M", "-t", "1:2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"}
		args = append(args, "-n", fmt.Sprintf("2:4096:+%d", fsSectors), "-t", "2:4f68bce3-e8cd-4db1-96e7-fbcaf984b709", p)
		testutil.Run(t, "sgdisk", args...)
		testutil.Run(t, "dd", "if="+junk, "of="+p, "bs=512", "seek=2048", "conv=notrunc", "status=none")
		if withFS {
			testutil.Run(t, "dd", "if="+fs, "of="+p, "bs=512", "seek=4096", "conv=notrunc", "status=none")
		}
		return p
	}
	good := ddi(true)
	r, err := extensionRelease(ctx, good, "flatcar-podman")
	if err != nil || r.Get("ID") != "flatcar" || r.Get("VERSION_ID") != "4593.2.5" {
		t.Fatalf("DDI extension-release: %v, %v", r, err)
	}
	if _, err := extensionRelease(ctx, good, "flatcar-zfs"); err == nil || !strings.Contains(err.Error(), "extension-release.flatcar-zfs") {
		t.Errorf("DDI under another name: %v", err)
	}
	if _, err := extensionRelease(ctx, ddi(false), "flatcar-podman"); err == nil || !strings.Contains(err.Error(), "has no partition with a sysext filesystem") {
		t.Errorf("DDI without a filesystem: %v", err)
	}
	if _, err := extensionRelease(ctx, junk, "flatcar-podman"); err == nil || !strings.Contains(err.Error(), "neither a sysext filesystem") {
		t.Errorf("noise: %v", err)
	}
	// A plain filesystem is read as before.
	if r, err := extensionRelease(ctx, fs, "flatcar-podman"); err != nil || r.Get("ID") != "flatcar" {
		t.Errorf("plain erofs: %v, %v", r, err)
	}
}
