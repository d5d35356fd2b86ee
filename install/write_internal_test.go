package install

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/internal/verify"
	"github.com/bake-os/bake-os/progress"
)

func TestPlanArithmetic(t *testing.T) {
	cover := merge([]Extent{{100, 50}, {0, 10}, {140, 20}, {10, 5}})
	if want := []Extent{{0, 15}, {100, 60}}; !reflect.DeepEqual(cover, want) {
		t.Errorf("merge: %v, want %v", cover, want)
	}
	got := subtract(cover, []Extent{{5, 2}, {90, 20}, {150, 100}})
	if want := []Extent{{0, 5}, {7, 8}, {110, 40}}; !reflect.DeepEqual(got, want) {
		t.Errorf("subtract: %v, want %v", got, want)
	}
	if got := split([]Extent{{0, 100}, {200, 10}}, []int64{50, 205}); !reflect.DeepEqual(got, []Extent{{0, 50}, {50, 50}, {200, 5}, {205, 5}}) {
		t.Errorf("split: %v", got)
	}
}

// writeCase writes a small plan from a source file onto a file target and
// returns the writer, ready to verify.
func writeCase(t *testing.T) (*writer, *plan, *os.File) {
	t.Helper()
	dir := t.TempDir()
	const size = 8 << 20
	src, _ := os.Create(filepath.Join(dir, "src"))
	dst, _ := os.Create(filepath.Join(dir, "dst"))
	t.Cleanup(func() { src.Close(); dst.Close() })
	src.Truncate(size)
	dst.WriteAt(bytes.Repeat([]byte{0xee}, size), 0) // old contents everywhere
	src.WriteAt(bytes.Repeat([]byte("data"), 4096), 1<<20)
	src.WriteAt([]byte("EFI PART"), 512)
	p := &plan{size: size, primaryEnd: primarySectors * sector, backupStart: size - backupSectors*sector,
		data: []Extent{{0, 4096}, {1 << 20, 16384}}}
	p.zero = split(subtract([]Extent{{0, size}}, p.data), []int64{p.primaryEnd, p.backupStart})
	p.data = split(p.data, []int64{p.primaryEnd, p.backupStart})
	w := &writer{ctx: context.Background(), dst: dst, src: src, log: slog.New(slog.DiscardHandler), sums: map[int64][32]byte{}}
	if err := w.write(p, progress.Nop(), "dst"); err != nil {
		t.Fatal(err)
	}
	return w, p, dst
}

func TestVerifyPassesAndCatchesDefects(t *testing.T) {
	w, p, _ := writeCase(t)
	if _, err := w.verify(p, progress.Nop(), "dst"); err != nil {
		t.Fatalf("clean write: %v", err)
	}
	if w.written != 4096+16384 || w.zeroed != 8<<20-w.written {
		t.Errorf("written %d zeroed %d", w.written, w.zeroed)
	}
	for name, plant := range map[string]struct {
		off  int64
		want string
	}{
		"data extent changed": {1<<20 + 5000, "read back differ"},
		"table changed":       {600, "read back differ"},
		"zeroed range dirty":  {8<<20 - 1000, "should read as zeros"},
		"zeroed middle dirty": {3 << 20, "should read as zeros"},
	} {
		t.Run(name, func(t *testing.T) {
			w, p, dst := writeCase(t)
			dst.WriteAt([]byte{0x42}, plant.off)
			// The sampled middle blocks: plant where samples() reads.
			if plant.want == "should read as zeros" && plant.off == 3<<20 {
				for _, e := range p.zero {
					if e.Offset <= plant.off && plant.off < e.end() {
						s := samples(e)
						dst.WriteAt([]byte{0x42}, s[len(s)/2].Offset)
					}
				}
			}
			_, err := w.verify(p, progress.Nop(), "dst")
			if !errors.Is(err, verify.ErrFailed) || !bytes.Contains([]byte(err.Error()), []byte(plant.want)) {
				t.Errorf("error %v, want a verification failure %q", err, plant.want)
			}
		})
	}
}

func TestWriteStopsWhenCancelled(t *testing.T) {
	w, p, _ := writeCase(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.ctx = ctx
	if err := w.write(p, progress.Nop(), "dst"); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
}

// The BLKZEROOUT path (disks that cannot zero by unmapping) on a real
// block device: a loop device over a file full of old data.
func TestZeroOutWithoutUnmap(t *testing.T) {
	if os.Geteuid() != 0 {
		if strings.Contains(","+os.Getenv("BAKE_TEST_REQUIRE_TOOLS")+",", ",all,") {
			t.Fatal("this test needs root (BAKE_TEST_REQUIRE_TOOLS=all)")
		}
		t.Skip("needs root")
	}
	backing := filepath.Join(t.TempDir(), "old.img")
	os.WriteFile(backing, bytes.Repeat([]byte{0x77}, 4<<20), 0o644)
	out, err := exec.Command("losetup", "--find", "--show", backing).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", dev).Run()
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &writer{ctx: context.Background(), dst: f, block: true, noUnmap: true, log: slog.New(slog.DiscardHandler),
		counter: progress.Nop().Counter("", 0)}
	if err := w.zeroRange(Extent{512, 3 << 20}, true); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	got, err := os.ReadFile(backing)
	if err != nil {
		t.Fatal(err)
	}
	if got[511] != 0x77 || got[512+3<<20] != 0x77 {
		t.Error("zeroed outside the range")
	}
	if !bytes.Equal(got[512:512+3<<20], make([]byte, 3<<20)) {
		t.Error("range not zeroed")
	}
	if w.zeroed != 3<<20 {
		t.Errorf("zeroed %d", w.zeroed)
	}
}
