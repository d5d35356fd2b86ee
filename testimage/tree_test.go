package testimage_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/testimage"
)

// TestTrees checks that USRTree and ESPTree contents land in USR-A and the
// ESP, read back with btrfs restore and mtype, and that generated files
// (os-release, the ESP defaults) are kept unless replaced.
func TestTrees(t *testing.T) {
	testutil.RequireTool(t, append(testimage.RequiredTools, "btrfs", "mtype")...)
	dir := t.TempDir()
	usr := filepath.Join(dir, "usr")
	esp := filepath.Join(dir, "esp")
	write := func(p, c string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(usr, "lib/big/data.bin"), strings.Repeat("usr data ", 100000))
	write(filepath.Join(usr, "lib/os-release"), "ID=not-flatcar\n") // replaced by the generator
	if err := os.Symlink("big/data.bin", filepath.Join(usr, "lib/link")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(esp, "flatcar/vmlinuz-a"), "a real-sized kernel\n")
	write(filepath.Join(esp, "extra/deep/file.txt"), "extra\n")

	img := filepath.Join(dir, "img.bin")
	if err := testimage.Generate(context.Background(), img, testimage.Options{USRTree: usr, ESPTree: esp}); err != nil {
		t.Fatal(err)
	}

	// ESP, read with mtools.
	espOff := int64(4096) * flatcar.SectorSize
	mtype := func(p string) string {
		t.Helper()
		cmd := exec.Command("mtype", "-i", fmt.Sprintf("%s@@%d", img, espOff), "::/"+p)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mtype %s: %v: %s", p, err, out)
		}
		return string(out)
	}
	if got := mtype("flatcar/vmlinuz-a"); got != "a real-sized kernel\n" {
		t.Errorf("ESP vmlinuz-a = %q", got)
	}
	if got := mtype("extra/deep/file.txt"); got != "extra\n" {
		t.Errorf("ESP extra file = %q", got)
	}
	if got := mtype("flatcar/grub/grub.cfg.tar"); got != "fake grub config\n" {
		t.Errorf("ESP default file = %q", got)
	}

	// USR-A, read with btrfs restore from a copy of the partition.
	var usrA flatcar.PartitionSpec
	for _, p := range flatcar.BaseLayout {
		if p.Label == flatcar.LabelUSRA {
			usrA = p
		}
	}
	part := filepath.Join(dir, "usr-a.img")
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	size := int64(usrA.Sectors) * flatcar.SectorSize
	pf, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := sparse.CopyRange(context.Background(), pf, src, 0, int64(usrA.FirstSector)*flatcar.SectorSize, size, nil); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	out := filepath.Join(dir, "restored")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "btrfs", "restore", "-S", part, out)
	data, err := os.ReadFile(filepath.Join(out, "lib/big/data.bin"))
	if err != nil || string(data) != strings.Repeat("usr data ", 100000) {
		t.Errorf("USR-A data.bin: %v (%d bytes)", err, len(data))
	}
	if l, err := os.Readlink(filepath.Join(out, "lib/link")); err != nil || l != "big/data.bin" {
		t.Errorf("USR-A link = %q, %v", l, err)
	}
	osr, err := os.ReadFile(filepath.Join(out, "lib/os-release"))
	if err != nil || !strings.Contains(string(osr), "ID=flatcar\n") {
		t.Errorf("USR-A os-release not the generated one: %v %q", err, osr)
	}
	// The host tree is left alone.
	if c, _ := os.ReadFile(filepath.Join(usr, "lib/os-release")); string(c) != "ID=not-flatcar\n" {
		t.Errorf("host USRTree modified: %q", c)
	}
}
