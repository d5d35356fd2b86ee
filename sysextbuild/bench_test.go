package sysextbuild_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
)

// benchTree writes a deterministic tree of about mb MiB: 512 KiB files in
// 16 directories, alternating incompressible and text-like content.
func benchTree(b *testing.B, mb int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "bench")
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 512<<10)
	for i := 0; i < mb*2; i++ {
		d := filepath.Join(dir, "usr/lib/bench", fmt.Sprintf("d%02d", i%16))
		must(b, os.MkdirAll(d, 0o755))
		if i%2 == 0 {
			rng.Read(buf)
		} else {
			for j := range buf {
				buf[j] = "abcdefghij klmnop\n"[rng.Intn(18)]
			}
		}
		must(b, os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d", i)), buf, 0o644))
	}
	return dir
}

// BenchmarkPackVsMksquashfs packs the same generated tree (200 MiB, or
// $BAKE_BENCH_TREE_MB) with Pack (default squashfs path) and with a plain
// mksquashfs call, and reports both times and their ratio. Run it with
// scripts/bench-pack.sh.
func BenchmarkPackVsMksquashfs(b *testing.B) {
	testutil.RequireTool(b, "mksquashfs")
	mb := 200
	if v, err := strconv.Atoi(os.Getenv("BAKE_BENCH_TREE_MB")); err == nil && v > 0 {
		mb = v
	}
	tree := benchTree(b, mb)
	out := b.TempDir()
	var pack, plain time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order so page-cache warmth favours neither.
		if i%2 == 0 {
			pack += timePack(b, tree, out)
			plain += timeMksquashfs(b, tree, out)
		} else {
			plain += timeMksquashfs(b, tree, out)
			pack += timePack(b, tree, out)
		}
	}
	b.ReportMetric(float64(pack.Milliseconds())/float64(b.N), "pack-ms/op")
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "mksquashfs-ms/op")
	b.ReportMetric(pack.Seconds()/plain.Seconds(), "pack/mksquashfs")
}

func timePack(b *testing.B, tree, out string) time.Duration {
	t0 := time.Now()
	_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{
		Dir: tree, Name: "bench", Arch: flatcar.ArchX86_64, Output: filepath.Join(out, "pack.raw"),
	})
	must(b, err)
	return time.Since(t0)
}

func timeMksquashfs(b *testing.B, tree, out string) time.Duration {
	t0 := time.Now()
	cmd := exec.Command("mksquashfs", tree, filepath.Join(out, "plain.raw"), "-noappend", "-quiet", "-no-progress")
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("mksquashfs: %v\n%s", err, o)
	}
	return time.Since(t0)
}

// BenchmarkPackFormats packs a 32 MiB tree in each format.
func BenchmarkPackFormats(b *testing.B) {
	tree := benchTree(b, 32)
	for _, f := range sysextbuild.Formats() {
		b.Run(string(f), func(b *testing.B) {
			testutil.RequireTool(b, f.Tools()...)
			out := b.TempDir()
			for i := 0; i < b.N; i++ {
				_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{
					Dir: tree, Name: "bench", Format: f, Output: filepath.Join(out, "x.raw"),
				})
				must(b, err)
			}
		})
	}
}
