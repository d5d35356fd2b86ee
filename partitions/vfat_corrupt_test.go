package partitions_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/corrupt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
)

// makeESP makes a 40 MiB FAT32 filesystem holding /EFI/boot/grub.cfg.
func makeESP(t *testing.T) string {
	testutil.RequireTool(t, "mkfs.vfat", "mmd", "mcopy")
	dir := t.TempDir()
	img := filepath.Join(dir, "esp.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 40<<20); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkfs.vfat", "-F", "32", "-n", "EFI-SYSTEM", img)
	src := filepath.Join(dir, "grub.cfg")
	os.WriteFile(src, []byte("set timeout=1\n"), 0o644)
	for _, args := range [][]string{{"mmd", "-i", img, "::/EFI", "::/EFI/boot"}, {"mcopy", "-i", img, src, "::/EFI/boot/grub.cfg"}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	return img
}

// TestVFATHugeFATRefusedQuickly is what the random damage found: a boot
// sector claiming 0xffffffff sectors per FAT kept go-diskfs reading for
// 30 s. It is refused from the geometry, at once.
func TestVFATHugeFATRefusedQuickly(t *testing.T) {
	img := makeESP(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, 36)
	f.Close()
	start := time.Now()
	_, err = partitions.OpenVFAT(img, 0, 40<<20)
	if !errors.Is(err, corrupt.ErrCorrupt) || !strings.Contains(err.Error(), "corrupt FAT filesystem") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

// TestVFATCorruptionNeverPanics damages the metadata of a real FAT32
// filesystem (boot sector, FATs, root directory) in many random ways and
// reads it through VFAT: every read ends in an error or data, never a
// panic nor a minutes-long read; go-diskfs's panics and impossible
// geometry surface as corrupt.ErrCorrupt.
func TestVFATCorruptionNeverPanics(t *testing.T) {
	img := makeESP(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Where the metadata is: reserved sectors, then the FATs, then the
	// root directory cluster.
	head := make([]byte, 512)
	f.ReadAt(head, 0)
	reserved := int64(binary.LittleEndian.Uint16(head[14:]))
	fatSectors := int64(binary.LittleEndian.Uint32(head[36:]))
	meta := (reserved + 2*fatSectors + 16) * 512

	// Boot sector geometry: bytes per sector, sectors per cluster,
	// reserved sectors, FAT count, sectors per FAT, root cluster, FSInfo.
	fields := [][2]int64{{11, 2}, {13, 1}, {14, 2}, {16, 1}, {32, 4}, {36, 4}, {44, 4}, {48, 2}}
	rng := rand.New(rand.NewPCG(6, 1))
	panics := 0
	for i := 0; i < 300+len(fields)*3; i++ {
		off := rng.Int64N(meta)
		if i%3 == 0 {
			off = rng.Int64N(512) // the boot sector's fields
		}
		n := 1 + rng.IntN(8)
		junk := make([]byte, n)
		for k := range junk {
			junk[k] = byte(rng.Uint32())
		}
		if j := i - 300; j >= 0 {
			// Each geometry field set to 0, all ones, and a random value.
			fl := fields[j/3]
			off, n = fl[0], int(fl[1])
			junk = make([]byte, n)
			for k := range junk {
				junk[k] = [3]byte{0, 0xff, byte(rng.Uint32())}[j%3]
			}
		}
		saved := make([]byte, n)
		f.ReadAt(saved, off)
		f.WriteAt(junk, off)
		start := time.Now()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("damage %d at %d: panic escaped: %v", i, off, r)
				}
			}()
			v, err := partitions.OpenVFAT(img, 0, 40<<20)
			if errors.Is(err, corrupt.ErrCorrupt) {
				panics++
			}
			if err != nil {
				return
			}
			defer v.Close()
			if _, err := v.ReadDir("/EFI/boot"); errors.Is(err, corrupt.ErrCorrupt) {
				panics++
			}
			r, err := v.Open("/EFI/boot/grub.cfg")
			if errors.Is(err, corrupt.ErrCorrupt) {
				panics++
			}
			if err == nil {
				if _, err := io.ReadAll(io.LimitReader(r, 1<<20)); errors.Is(err, corrupt.ErrCorrupt) {
					panics++
				}
				r.Close()
			}
		}()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("damage %d at %d (%x): reading took %v", i, off, junk, d)
		}
		f.WriteAt(saved, off)
	}
	t.Logf("%d damaged filesystems refused as corrupt", panics)
}
