package decompress

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// benchBlock is one bzip2 -9 block of a tar of /usr/bin (binaries and
// text, like a Flatcar /usr), made at benchmark time.
func benchBlock(b *testing.B) []byte {
	b.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		b.Skip("bzip2 not installed")
	}
	tar := exec.Command("sh", "-c", "tar cf - /usr/bin 2>/dev/null | head -c 8000000 | tail -c 890000 | bzip2 -9")
	out, err := tar.Output()
	if err != nil || len(out) < 100 {
		b.Fatalf("making block: %v", err)
	}
	return out
}

// BenchmarkDecodeBlock measures one worker decoding one full block
// (Huffman, MTF, inverse BWT, RLE1 and CRC).
func BenchmarkDecodeBlock(b *testing.B) {
	data := benchBlock(b)
	buf := make([]byte, len(data)+inputPad)
	copy(buf, data)
	d := newBlockDecoder()
	var o blockOut
	b.SetBytes(890000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.decode(buf, 32, len(data)*8, &o); err != nil && err != errNeedMore {
			b.Fatal(err)
		}
	}
	_ = os.Stdout
}

// TestCPUDecodeBlock reports the thread CPU time of decoding one block;
// with BAKE_BENCH unset it is skipped. On a shared machine, CPU time is a
// steadier figure than wall time.
func TestCPUDecodeBlock(t *testing.T) {
	if os.Getenv("BAKE_BENCH") == "" {
		t.Skip("set BAKE_BENCH=1")
	}
	data, err := exec.Command("sh", "-c", os.Getenv("BAKE_BENCH_CMD")).Output()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(data)+inputPad)
	copy(buf, data)
	d := newBlockDecoder()
	var o blockOut
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Duration(1 << 62)
	for range 15 {
		var r0, r1 syscall.Rusage
		syscall.Getrusage(1, &r0) // RUSAGE_THREAD
		for range 4 {
			if _, err := d.decode(buf, 32, len(data)*8, &o); err != nil {
				t.Fatal(err)
			}
		}
		syscall.Getrusage(1, &r1)
		dt := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) / 4
		best = min(best, dt)
	}
	t.Logf("best CPU per block: %v (%d bytes out)", best, o.size)
	// Stage by stage.
	cpu := func() time.Duration {
		var r syscall.Rusage
		syscall.Getrusage(1, &r)
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	var st [4]time.Duration
	for i := range st {
		st[i] = 1 << 62
	}
	for range 15 {
		t0 := cpu()
		for range 4 {
			d.decodeSymbols(buf, 32, len(data)*8)
		}
		t1 := cpu()
		for range 4 {
			d.links()
		}
		t2 := cpu()
		for range 4 {
			d.walk()
		}
		t3 := cpu()
		for range 4 {
			d.finish(&o)
		}
		t4 := cpu()
		for i, dt := range []time.Duration{t1 - t0, t2 - t1, t3 - t2, t4 - t3} {
			st[i] = min(st[i], dt/4)
		}
	}
	t.Logf("stages: symbols %v, links %v, walk %v, unRLE+CRC %v", st[0], st[1], st[2], st[3])
}
