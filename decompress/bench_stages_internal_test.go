package decompress

import (
	"bytes"
	"fmt"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchCorpus lists the blocks the stage benchmarks decode: each one
// bzip2 -9 block of 890000 bytes cut from a tar of system directories
// (shell pipeline), made once per test binary run.
var benchCorpus = []struct{ name, cmd string }{
	{"usrbin", "tar cf - /usr/bin 2>/dev/null | head -c 8000000 | tail -c 890000"},
	{"usrshare", "tar cf - /usr/share 2>/dev/null | head -c 30000000 | tail -c 890000"},
	// Already compressed data (firmware, .gz files): large MTF indexes.
	{"gzip", "tar cf - /usr/bin 2>/dev/null | head -c 3000000 | gzip -1 | head -c 890000"},
	// Zeros (most blocks of a disk image): a block of RLE1 runs.
	{"zeros", "head -c 46000000 /dev/zero"},
}

var benchBlocks sync.Map // name -> []byte (padded with inputPad)

func corpusBlock(b *testing.B, name, cmd string) []byte {
	b.Helper()
	if v, ok := benchBlocks.Load(name); ok {
		return v.([]byte)
	}
	if _, err := exec.LookPath("bzip2"); err != nil {
		b.Skip("bzip2 not installed")
	}
	out, err := exec.Command("sh", "-c", cmd+" | bzip2 -9").Output()
	if err != nil || len(out) < 20 {
		b.Fatalf("making block %s: %v", name, err)
	}
	buf := make([]byte, len(out)+inputPad)
	copy(buf, out)
	benchBlocks.Store(name, buf)
	return buf
}

// BenchmarkStages measures the stages of decoding one block separately:
// symbols (Huffman, RUNA/RUNB, MTF), bwt (links and walk) and all.
func BenchmarkStages(b *testing.B) {
	for _, c := range benchCorpus {
		for _, stage := range []string{"symbols", "bwt", "all"} {
			b.Run(fmt.Sprintf("%s/%s", c.name, stage), func(b *testing.B) {
				data := corpusBlock(b, c.name, c.cmd)
				limit := (len(data) - inputPad) * 8
				d := newBlockDecoder()
				var o blockOut
				if _, err := d.decode(data, 32, limit, &o); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(o.size)
				b.ResetTimer()
				cpu := startThreadCPU()
				for b.Loop() {
					switch stage {
					case "symbols":
						if _, err := d.decodeSymbols(data, 32, limit); err != nil {
							b.Fatal(err)
						}
					case "bwt":
						b.StopTimer()
						if _, err := d.decodeSymbols(data, 32, limit); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						d.inverseBWT()
					case "all":
						if _, err := d.decode(data, 32, limit, &o); err != nil {
							b.Fatal(err)
						}
					}
				}
				cpu.report(b)
			})
		}
	}
}

// threadCPU measures the CPU time of the benchmark's thread, a steadier
// figure than wall time on a shared machine: startThreadCPU locks the
// goroutine to its thread, report adds the metric cpu-ns/op (it includes
// work done between StopTimer and StartTimer).
type threadCPU struct{ t0 time.Duration }

func threadTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(1, &r) // RUSAGE_THREAD
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func startThreadCPU() threadCPU {
	runtime.LockOSThread()
	return threadCPU{threadTime()}
}

func (c threadCPU) report(b *testing.B) {
	dt := threadTime() - c.t0
	runtime.UnlockOSThread()
	b.ReportMetric(float64(dt.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkScan measures the scanner cutting bzip2 -9 of 8 MB of random
// data (incompressible, as most of a Flatcar image's data) into pieces.
func BenchmarkScan(b *testing.B) {
	bz := corpusBlock(b, "random8m", "head -c 8000000 /dev/urandom")
	bz = bz[:len(bz)-inputPad]
	b.SetBytes(int64(len(bz)))
	pieces := 0
	cpu := startThreadCPU()
	for b.Loop() {
		pieces = 0
		s := &scanner{
			r:     bytes.NewReader(bz[4:]),
			buf:   append(make([]byte, 0, 2*readSize), bz[:4]...),
			alloc: func(n int) []byte { return make([]byte, n) },
			emit:  func(*piece) error { pieces++; return nil },
		}
		if err := s.run(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	if pieces < 9 {
		b.Fatalf("%d pieces, want at least 9 blocks and the end of stream", pieces)
	}
}
