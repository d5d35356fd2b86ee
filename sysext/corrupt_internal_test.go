package sysext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bake-os/bake-os/internal/corrupt"
	"github.com/bake-os/bake-os/internal/testutil"
)

const seedRelease = "ID=_any\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n"

var (
	seedOnce   sync.Once
	seedImages map[string][]byte // compressor -> small squashfs image
	seedErr    error
)

// seedSquashfs returns small real squashfs images (a sysext "demo" with a
// few files and directories) made by mksquashfs, one per compressor,
// built once per test binary.
func seedSquashfs(t testing.TB) map[string][]byte {
	testutil.RequireTool(t, "mksquashfs")
	seedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bake-os-sysext-seed-")
		if err != nil {
			seedErr = err
			return
		}
		defer os.RemoveAll(dir)
		tree := filepath.Join(dir, "tree")
		for p, content := range map[string]string{
			ReleasePath("demo"):       seedRelease,
			"usr/bin/hello":           "#!/bin/sh\necho hello\n",
			"usr/lib/demo/data.txt":   strings.Repeat("bake-os sysext seed\n", 300),
			"usr/share/demo/a/b/c.md": "# deep\n",
		} {
			p = filepath.Join(tree, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				seedErr = err
				return
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				seedErr = err
				return
			}
		}
		if err := os.Symlink("hello", filepath.Join(tree, "usr/bin/hi")); err != nil {
			seedErr = err
			return
		}
		seedImages = map[string][]byte{}
		for _, comp := range []string{"gzip", "xz", "zstd"} {
			out := filepath.Join(dir, comp+".raw")
			if b, err := exec.Command("mksquashfs", tree, out, "-all-root", "-noappend", "-quiet", "-no-progress",
				"-comp", comp, "-mkfs-time", "0", "-all-time", "0").CombinedOutput(); err != nil {
				seedErr = errors.New("mksquashfs: " + string(b))
				return
			}
			if seedImages[comp], err = os.ReadFile(out); err != nil {
				seedErr = err
				return
			}
		}
	})
	if seedErr != nil {
		t.Fatal(seedErr)
	}
	return seedImages
}

// judgeRead checks one read of the extension-release of a damaged image:
// an error, the true content, or (a flip inside the file's own data,
// which squashfs cannot detect) exactly what unsquashfs reads too.
func judgeRead(t *testing.T, img string, data []byte, err error, what string) {
	t.Helper()
	if err != nil || string(data) == seedRelease {
		return
	}
	out, uerr := exec.Command("unsquashfs", "-cat", img, ReleasePath("demo")).Output()
	if uerr != nil || !bytes.Equal(out, data) {
		t.Errorf("%s: read %q without error; unsquashfs reads %q (%v)", what, data, out, uerr)
	}
}

func writeImage(t *testing.T, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSquashfsRandomCorruptionNeverPanics damages a real squashfs in many
// random ways (bit flips, byte runs, truncation, lying superblock fields)
// and reads it in-process: every read ends in an error or a correct read.
func TestSquashfsRandomCorruptionNeverPanics(t *testing.T) {
	testutil.RequireTool(t, "unsquashfs")
	seeds := seedSquashfs(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 3))
	corrupted, panics := 0, 0
	for _, comp := range []string{"gzip", "xz", "zstd"} {
		orig := seeds[comp]
		for i := 0; i < 400; i++ {
			b := bytes.Clone(orig)
			switch i % 4 {
			case 0: // bit flips
				for k := 0; k <= rng.IntN(4); k++ {
					b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
				}
			case 1: // a run of random bytes
				off := rng.IntN(len(b))
				for k := off; k < min(len(b), off+1+rng.IntN(32)); k++ {
					b[k] = byte(rng.Uint32())
				}
			case 2: // truncation
				b = b[:rng.IntN(len(b))]
			case 3: // one superblock field made to lie
				off := 4 + 4*rng.IntN(23)
				binary.LittleEndian.PutUint32(b[off:], rng.Uint32())
			}
			img := writeImage(t, dir, "x.raw", b)
			var data []byte
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s corruption %d: panic escaped: %v", comp, i, r)
					}
				}()
				data, err = readSquashfs(img, ReleasePath("demo"))
			}()
			if err != nil {
				corrupted++
			}
			if errors.Is(err, corrupt.ErrCorrupt) {
				panics++
				if !strings.HasPrefix(err.Error(), "reading "+img+": corrupt squashfs image (") {
					t.Errorf("%s corruption %d: unclear error %q", comp, i, err)
				}
				if panics <= 5 {
					// The bake's path: the panic falls back to unsquashfs.
					data, err := ReadFile(img, ReleasePath("demo"))
					if err != nil && !strings.Contains(err.Error(), "corrupt squashfs image") && !strings.Contains(err.Error(), "unsquashfs") {
						t.Errorf("%s corruption %d: ReadFile: %v", comp, i, err)
					}
					judgeRead(t, img, data, err, comp+" ReadFile")
				}
			}
			judgeRead(t, img, data, err, comp)
		}
	}
	t.Logf("%d of 1200 damaged images refused in-process, %d of them by a go-diskfs panic", corrupted, panics)
	if panics == 0 {
		t.Error("no corruption reached a go-diskfs panic: the guard is not exercised")
	}
}

// TestSquashfsDamageRefusedClearly plants named kinds of damage and reads
// the extension-release the way a bake does (ReadRelease: the tool's own
// check, then the reader): each is one clear error, never a panic.
func TestSquashfsDamageRefusedClearly(t *testing.T) {
	testutil.RequireTool(t, "unsquashfs")
	orig := seedSquashfs(t)["gzip"]
	u64 := func(b []byte, off int, v uint64) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint64(b[off:], v)
		return b
	}
	size := uint64(len(orig))
	used := int(binary.LittleEndian.Uint64(orig[40:]))
	cases := map[string][]byte{
		"truncated to the superblock":     orig[:96],
		"truncated to half":               orig[:used/2],
		"truncated by one byte":           orig[:used-1],
		"bytes_used beyond the file":      u64(orig, 40, size*4),
		"bytes_used tiny":                 u64(orig, 40, 100),
		"inode table past EOF":            u64(orig, 64, size+1<<20),
		"directory table past EOF":        u64(orig, 72, size+1<<20),
		"id table past EOF":               u64(orig, 48, 1<<62),
		"fragment table past EOF":         u64(orig, 80, size+12345),
		"root inode past the inode table": u64(orig, 32, 0xffff_ffff_0000),
	}
	dir := t.TempDir()
	for what, b := range cases {
		t.Run(what, func(t *testing.T) {
			img := writeImage(t, dir, strings.ReplaceAll(what, " ", "_")+".raw", b)
			rel, err := ReadRelease(img, "demo")
			if err == nil {
				t.Fatalf("accepted: %v", rel.Map())
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") || !strings.Contains(msg, img) {
				t.Errorf("error not one line naming the image: %q", msg)
			}
			var ue *UnreadableError
			if !errors.As(err, &ue) || !strings.Contains(msg, "unsquashfs cannot read it") || !strings.Contains(msg, "systemd could not mount it either") {
				t.Errorf("not refused by unsquashfs's judgement: %v", err)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("damage reported as a missing file: %v", err)
			}
		})
	}
}

// TestCheckRefusesWhatOnlyBakeOSReads plants damage that bake-os's own
// readers step over (the extension-release still reads fine) but the
// filesystem's checker refuses.
func TestCheckRefusesWhatOnlyBakeOSReads(t *testing.T) {
	t.Run("squashfs bytes_used short of the tables", func(t *testing.T) {
		testutil.RequireTool(t, "unsquashfs")
		b := bytes.Clone(seedSquashfs(t)["gzip"])
		binary.LittleEndian.PutUint64(b[40:], 100)
		img := writeImage(t, t.TempDir(), "demo.raw", b)
		if data, err := readSquashfs(img, ReleasePath("demo")); err != nil || string(data) != seedRelease {
			t.Fatalf("planted damage no longer passes go-diskfs (%v): pick another", err)
		}
		var ue *UnreadableError
		if err := CheckFilesystem(img); !errors.As(err, &ue) || ue.Tool != "unsquashfs" {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("ext4 with a wrong link count", func(t *testing.T) {
		testutil.RequireTool(t, "mke2fs", "debugfs", "e2fsck")
		dir := t.TempDir()
		tree := filepath.Join(dir, "tree")
		os.MkdirAll(filepath.Join(tree, ReleaseDir), 0o755)
		os.WriteFile(filepath.Join(tree, ReleasePath("demo")), []byte(seedRelease), 0o644)
		img := filepath.Join(dir, "demo.raw")
		testutil.Run(t, "mke2fs", "-q", "-t", "ext4", "-d", tree, img, "4M")
		if err := CheckFilesystem(img); err != nil {
			t.Fatalf("clean ext4 refused: %v", err)
		}
		testutil.Run(t, "debugfs", "-w", "-R", "sif /"+ReleasePath("demo")+" links_count 7", img)
		if data, err := ReadFile(img, ReleasePath("demo")); err != nil || string(data) != seedRelease {
			t.Fatalf("debugfs no longer reads the damaged file (%v)", err)
		}
		_, err := ReadRelease(img, "demo")
		var ue *UnreadableError
		if !errors.As(err, &ue) || ue.Tool != "e2fsck" || !strings.Contains(err.Error(), "systemd could not mount it either") {
			t.Fatalf("ReadRelease: %v", err)
		}
		t.Log(err)
	})
}

// TestExtractedSymlinkStaysInImage: an erofs sysext whose
// extension-release is a symlink to a host file must not make bake-os read
// the host file: a link leaving the extracted tree is refused.
func TestExtractedSymlinkStaysInImage(t *testing.T) {
	testutil.RequireTool(t, "mkfs.erofs", "fsck.erofs")
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("ID=_any\nSECRET=host-file\n"), 0o644)
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, ReleaseDir), 0o755)
	if err := os.Symlink(victim, filepath.Join(tree, ReleasePath("demo"))); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "demo.raw")
	testutil.Run(t, "mkfs.erofs", "--all-root", img, tree)
	data, err := ReadFile(img, ReleasePath("demo"))
	if err == nil || strings.Contains(string(data), "SECRET") {
		t.Fatalf("read through the symlink: %q, %v", data, err)
	}
	if !strings.Contains(err.Error(), "escapes") {
		t.Errorf("refusal does not say why: %v", err)
	}
}
