package diskfmt_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bake-os/bake-os/decompress"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/vendors/diskfmt"
)

const mib = 1 << 20

// The source of the Ahead tests: 48 MiB, with "USR-A" at [8, 40) MiB
// (random, text, zeros, a hole) and data before and after it.
const aheadSize = 48 * mib

var usrA = []sparse.Extent{{Off: 8 * mib, Len: 32 * mib}}

var aheadFixture struct {
	once sync.Once
	dir  string
	bz   string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if aheadFixture.dir != "" {
		os.RemoveAll(aheadFixture.dir)
	}
	os.Exit(code)
}

// aheadSource returns the source of the Ahead tests compressed with
// bzip2 -1, made once per test binary.
func aheadSource(t testing.TB) string {
	t.Helper()
	testutil.RequireTool(t, "bzip2", "qemu-img")
	f := &aheadFixture
	f.once.Do(func() {
		if f.dir, f.err = os.MkdirTemp("", "diskfmt-ahead-"); f.err != nil {
			return
		}
		raw := filepath.Join(f.dir, "src.raw")
		rng := rand.New(rand.NewPCG(3, 4))
		b := make([]byte, aheadSize)
		fill := func(off, n int, text bool) {
			for i := off; i < off+n; i++ {
				if text {
					b[i] = "flatcar usr sysext\n"[rng.IntN(19)]
				} else {
					b[i] = byte(rng.Uint32())
				}
			}
		}
		fill(1*mib+100, 2*mib, true)     // before USR-A
		fill(8*mib, 3*mib, false)        // USR-A: incompressible
		fill(12*mib+777, 5*mib+3, true)  // compressible, unaligned
		fill(30*mib-10, 20, false)       // straddles a cluster boundary
		fill(40*mib-100, 200, true)      // straddles the end of USR-A
		fill(44*mib, 1*mib, true)        // after it ("ROOT")
		fill(aheadSize-4096, 4096, true) // the last cluster
		if f.err = os.WriteFile(raw, b, 0o644); f.err != nil {
			return
		}
		fh, err := os.OpenFile(raw, os.O_RDWR, 0)
		if err != nil {
			f.err = err
			return
		}
		f.err = sparse.PunchHole(fh, 20*mib, 4*mib) // a hole inside USR-A
		fh.Close()
		if f.err != nil {
			return
		}
		f.bz = raw + ".bz2"
		out, err := os.Create(f.bz)
		if err != nil {
			f.err = err
			return
		}
		defer out.Close()
		cmd := exec.Command("bzip2", "-1", "-c", raw)
		cmd.Stdout = out
		f.err = cmd.Run()
	})
	if f.err != nil {
		t.Fatalf("making the Ahead source: %v", f.err)
	}
	return f.bz
}

// decodeAhead decodes bz into work with the decoder driving a, as bake
// does.
func decodeAhead(t testing.TB, bz, work string, keep []sparse.Extent, o diskfmt.Options) *diskfmt.Ahead {
	t.Helper()
	a, err := diskfmt.StartQcow2Ahead(context.Background(), work, filepath.Dir(work), keep, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	in, err := os.Open(bz)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst, err := os.OpenFile(work, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := decompress.Bzip2ToSparse(context.Background(), in, dst, decompress.Options{Written: a.Advance}); err != nil {
		t.Fatal(err)
	}
	return a
}

func finish(t testing.TB, a *diskfmt.Ahead, work, out string, o diskfmt.Options) {
	t.Helper()
	src, err := os.Open(work)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := a.Finish(context.Background(), src, out, o); err != nil {
		t.Fatal(err)
	}
}

// plainWrite is the sequential path: Qcow2.Write of the finished source.
func plainWrite(t testing.TB, work, out string, o diskfmt.Options) {
	t.Helper()
	src, err := os.Open(work)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := (diskfmt.Qcow2{}).Write(context.Background(), src, dst, o); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// judge has qemu-img check the qcow2 and compare it with the raw source.
func judge(t *testing.T, img, raw string) {
	t.Helper()
	testutil.Run(t, "qemu-img", "check", "-q", "-f", "qcow2", img)
	testutil.Run(t, "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", raw, img)
}

func sameBytes(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// tempsIn lists the temporary files left in dir.
func tempsIn(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, atomicfile.TempPrefix+"*-qcow2-ahead"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The bake's shape: USR-A is encoded while the image decodes, then the
// image is edited outside USR-A (the GPT, ROOT) and grown (as the vm
// layout grows ROOT), then Finish adds the rest. The result holds the
// edited image, is a valid qcow2, used the early work (its bytes differ
// from the sequential writer's cluster order), and does not depend on
// the number of workers.
func TestAheadOverlapsDecoding(t *testing.T) {
	bz := aheadSource(t)
	dir := t.TempDir()
	var outs []string
	for i, workers := range []int{2, 1} {
		work := filepath.Join(dir, "work.raw")
		os.Remove(work)
		if err := os.WriteFile(work, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		o := diskfmt.Options{Workers: workers}
		a := decodeAhead(t, bz, work, usrA, o)
		// Edits outside USR-A, then growth with data past the old end.
		writeAt(t, work, 512, bytes.Repeat([]byte("GPT!"), 128))
		writeAt(t, work, 44*mib+4096, bytes.Repeat([]byte("sysext "), 50000))
		if err := os.Truncate(work, aheadSize+100*mib); err != nil {
			t.Fatal(err)
		}
		writeAt(t, work, aheadSize+60*mib, bytes.Repeat([]byte{0xa5}, 3*mib))
		out := filepath.Join(dir, "ahead"+string(rune('0'+i))+".img")
		finish(t, a, work, out, o)
		judge(t, out, work)
		seq := filepath.Join(dir, "seq.img")
		plainWrite(t, work, seq, o)
		if sameBytes(t, out, seq) {
			t.Errorf("workers %d: output is the sequential writer's: the early work was not used", workers)
		}
		if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("output mode: %v %v, want 0644", st.Mode(), err)
		}
		if left := tempsIn(t, dir); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
		outs = append(outs, out)
		if i == 0 {
			os.Rename(work, filepath.Join(dir, "work0.raw"))
		}
	}
	if !sameBytes(t, outs[0], outs[1]) {
		t.Errorf("outputs with 2 and 1 workers differ: not deterministic")
	}
}

// When the source changes inside the ranges encoded early, Finish notices
// and writes the whole source again: the content is still right, and
// the output is then exactly the sequential writer's.
func TestAheadSourceChangedInside(t *testing.T) {
	bz := aheadSource(t)
	for name, edit := range map[string]func(t *testing.T, work string){
		"byte changed": func(t *testing.T, work string) { writeAt(t, work, 13*mib+12345, []byte{'!'}) },
		"zero cluster gets data": func(t *testing.T, work string) {
			writeAt(t, work, 21*mib, []byte("late data in a hole"))
		},
		"data cluster becomes a hole": func(t *testing.T, work string) {
			f, err := os.OpenFile(work, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := sparse.PunchHole(f, 8*mib, 64<<10); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			work := filepath.Join(dir, "work.raw")
			if err := os.WriteFile(work, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			a := decodeAhead(t, bz, work, usrA, diskfmt.Options{})
			// The early pass must have read the ranges before they change
			// (else it reads the changed source and is right to keep it).
			if err := a.Idle(context.Background()); err != nil {
				t.Fatal(err)
			}
			edit(t, work)
			out := filepath.Join(dir, "out.img")
			finish(t, a, work, out, diskfmt.Options{})
			judge(t, out, work)
			seq := filepath.Join(dir, "seq.img")
			plainWrite(t, work, seq, diskfmt.Options{})
			if !sameBytes(t, out, seq) {
				t.Errorf("the early work was kept although the source changed under it")
			}
		})
	}
}

// Stopping early (a failed or interrupted bake) leaves no file behind,
// whether the producer finished or not; Finish honours its context.
func TestAheadCloseLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work.raw")
	f, err := os.Create(work)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte("x"), 8*mib), 0); err != nil {
		t.Fatal(err)
	}
	keep := []sparse.Extent{{Off: 0, Len: 8 * mib}}

	a, err := diskfmt.StartQcow2Ahead(context.Background(), work, dir, keep, diskfmt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Advance(3 * mib) // the producer stops half way
	if len(tempsIn(t, dir)) != 1 {
		t.Errorf("no temporary qcow2 while encoding ahead")
	}
	a.Close()
	a.Close()
	if left := tempsIn(t, dir); len(left) > 0 {
		t.Errorf("Close left %v", left)
	}

	ctx, cancel := context.WithCancel(context.Background())
	a, err = diskfmt.StartQcow2Ahead(ctx, work, dir, keep, diskfmt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	err = a.Finish(ctx, f, filepath.Join(dir, "out.img"), diskfmt.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Finish after cancel = %v, want context.Canceled", err)
	}
	a.Close()
	if left, _ := filepath.Glob(filepath.Join(dir, "*.img")); len(left) > 0 || len(tempsIn(t, dir)) > 0 {
		t.Errorf("files left after a cancelled Finish: %v %v", left, tempsIn(t, dir))
	}

	if _, err := diskfmt.StartQcow2Ahead(context.Background(), work, dir, []sparse.Extent{{Off: 4 * mib, Len: mib}, {Off: 0, Len: mib}}, diskfmt.Options{}); err == nil {
		t.Errorf("unsorted ranges accepted")
	}
	if left := tempsIn(t, dir); len(left) > 0 {
		t.Errorf("refused start left %v", left)
	}
}

// BenchmarkDecodeToQcow2 is the vendor bake's disk path on the Ahead
// source: decode the .bz2, then write the qcow2 (sequential), or encode
// USR-A while decoding and finish after (ahead).
func BenchmarkDecodeToQcow2(b *testing.B) {
	bz := aheadSource(b)
	dir := b.TempDir()
	work := filepath.Join(dir, "work.raw")
	out := filepath.Join(dir, "out.img")
	decode := func(written func(int64)) {
		in, err := os.Open(bz)
		if err != nil {
			b.Fatal(err)
		}
		defer in.Close()
		dst, err := os.Create(work)
		if err != nil {
			b.Fatal(err)
		}
		defer dst.Close()
		if _, err := decompress.Bzip2ToSparse(context.Background(), in, dst, decompress.Options{Written: written}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			decode(nil)
			plainWrite(b, work, out, diskfmt.Options{})
		}
	})
	b.Run("ahead", func(b *testing.B) {
		for b.Loop() {
			os.Remove(work)
			if err := os.WriteFile(work, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			a, err := diskfmt.StartQcow2Ahead(context.Background(), work, dir, usrA, diskfmt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			decode(a.Advance)
			finish(b, a, work, out, diskfmt.Options{})
			a.Close()
		}
	})
}
