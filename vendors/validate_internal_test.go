package vendors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/gpt/gpttest"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/progress"
)

// breakPrepared is a progress.Reporter that, when a group's disk has been
// prepared, makes USR-B overlap USR-A in that disk's table (CRCs correct).
type breakPrepared struct {
	out     string
	t       *testing.T
	planted bool
}

func (b *breakPrepared) Counter(name string, _ int64) progress.Counter {
	if !strings.HasPrefix(name, "preparing ") {
		return progress.Nop().Counter(name, 0)
	}
	return plantOnDone(func() {
		disks, _ := filepath.Glob(filepath.Join(b.out, atomicfile.TempPrefix+"*-vendors", "disk-*.raw"))
		if len(disks) != 1 {
			b.t.Errorf("prepared disks: %v", disks)
			return
		}
		if err := gpttest.Overlap(disks[0], 3, 4); err != nil {
			b.t.Error(err)
			return
		}
		b.planted = true
	})
}

type plantOnDone func()

func (plantOnDone) Add(int64) {}
func (f plantOnDone) Done()   { f() }

// TestBuildValidatesPreparedDisk: a prepared vendor disk whose GPT is bad
// is refused with the broken rule before any output is written from it,
// and nothing is left in the output directory.
func TestBuildValidatesPreparedDisk(t *testing.T) {
	f := testFixture(t)
	out := t.TempDir()
	rep := &breakPrepared{out: out, t: t}
	v, _ := Lookup("digitalocean")
	_, err := Build(context.Background(), []Vendor{v}, BuildOptions{Base: f.base, OutputDir: out,
		OEMSysextDir: f.oemDir, Compress: "none", Reporter: rep})
	if !rep.planted {
		t.Fatal("the defect was not planted")
	}
	if err == nil || !strings.Contains(err.Error(), "GPT partition 3 (USR-A) overlaps partition 4 (USR-B)") {
		t.Fatalf("error %v", err)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		t.Errorf("left in the output directory: %s", e.Name())
	}
}
