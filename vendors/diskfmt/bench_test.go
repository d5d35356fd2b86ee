package diskfmt_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/vendors/diskfmt"
	"github.com/bake-os/bake-os/vendors/diskfmt/conformtest"
)

// BenchmarkWrite writes the conformance disk with every format, then the
// same disk with qemu-img for the two compressing formats, so one run
// shows both (ns/op and out-bytes). scripts/bench-diskfmt.sh does the same
// on a Flatcar-sized image.
func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	srcPath := filepath.Join(dir, "src.raw")
	conformtest.MakeDisk(b, srcPath, conformtest.SourceSize)
	src, err := os.Open(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, f := range diskfmt.All() {
		b.Run(f.Name(), func(b *testing.B) {
			out := filepath.Join(dir, "out."+f.Name())
			for b.Loop() {
				os.Remove(out)
				dst, err := os.Create(out)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Write(context.Background(), src, dst, diskfmt.Options{}); err != nil {
					b.Fatal(err)
				}
				dst.Close()
			}
			reportSize(b, out)
		})
	}
	for _, q := range []struct{ name, opts string }{
		{"qemu-img-qcow2", "-c -O qcow2 -o compat=0.10"},
		{"qemu-img-vmdk-stream", "-O vmdk -o subformat=streamOptimized"},
	} {
		b.Run(q.name, func(b *testing.B) {
			testutil.RequireTool(b, "qemu-img")
			out := filepath.Join(dir, "out."+q.name)
			args := append([]string{"convert", "-f", "raw"}, strings.Fields(q.opts)...)
			args = append(args, srcPath, out)
			for b.Loop() {
				os.Remove(out)
				if msg, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
					b.Fatalf("qemu-img: %v\n%s", err, msg)
				}
			}
			reportSize(b, out)
		})
	}
}

func reportSize(b *testing.B, path string) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size()), "out-bytes")
}
