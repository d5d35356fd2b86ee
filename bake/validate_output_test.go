package bake_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/gpt/gpttest"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/testimage"
)

// breakTable is a progress.Reporter that, when the first sysext has been
// hashed (the working copy exists and its GPT was read), makes USR-B
// overlap USR-A in the working copy's table, CRCs correct.
type breakTable struct {
	dir  string
	once sync.Once
	t    *testing.T
	done bool
}

func (b *breakTable) Counter(name string, _ int64) progress.Counter {
	if !strings.HasPrefix(name, "hashing ") {
		return doneFunc(nil)
	}
	return doneFunc(func() {
		b.once.Do(func() {
			work, _ := filepath.Glob(filepath.Join(b.dir, atomicfile.TempPrefix+"*-"+bake.ImageName))
			if len(work) != 1 {
				b.t.Errorf("working copies: %v", work)
				return
			}
			if err := gpttest.Overlap(work[0], 3, 4); err != nil {
				b.t.Error(err)
				return
			}
			b.done = true
		})
	})
}

type doneFunc func()

func (doneFunc) Add(int64) {}
func (f doneFunc) Done() {
	if f != nil {
		f()
	}
}

// TestBakeValidatesOutputBeforeRename: a working copy whose GPT went bad
// during the bake is refused with the broken rule and never renamed into
// place.
func TestBakeValidatesOutputBeforeRename(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	rep := &breakTable{dir: f.out, t: t}
	_, err := bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Sysexts: []bake.Sysext{{Name: "myext", File: ext}}, Reporter: rep,
	})
	if !rep.done {
		t.Fatal("the defect was not planted")
	}
	if err == nil || !strings.Contains(err.Error(), "checking baked image") ||
		!strings.Contains(err.Error(), "GPT partition 3 (USR-A) overlaps partition 4 (USR-B)") {
		t.Fatalf("error %v", err)
	}
	ents, _ := os.ReadDir(f.out)
	for _, e := range ents {
		t.Errorf("left in the output directory: %s", e.Name())
	}
}
