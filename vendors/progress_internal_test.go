package vendors

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/vendors/diskfmt"
)

// descRecorder remembers the step descriptions it is asked for.
type descRecorder struct {
	mu    sync.Mutex
	descs []string
}

func (r *descRecorder) Counter(desc string, _ int64) progress.Counter {
	r.mu.Lock()
	r.descs = append(r.descs, desc)
	r.mu.Unlock()
	return progress.Nop().Counter(desc, 0)
}

// TestProgressNamesOutputs: steps name the output files, never the temp
// files they are staged in.
func TestProgressNamesOutputs(t *testing.T) {
	f := testFixture(t)
	rec := &descRecorder{}
	_, err := Build(context.Background(), []Vendor{lookupVendor(t, "ami")}, BuildOptions{Base: f.base, OutputDir: t.TempDir(),
		OEMSysextDir: f.oemDir, Compress: "gz,none", Reporter: rec})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rec.descs, "\n")
	for _, want := range []string{"writing flatcar_production_ami_image.bin", "compressing flatcar_production_ami_image.bin.gz"} {
		if !strings.Contains(all, want) {
			t.Errorf("no step %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, atomicfile.TempPrefix) {
		t.Errorf("temp file named in a step:\n%s", all)
	}
}

// TestProgressNamesAheadOutput: a qcow2 finished from the disk encoded
// ahead (a bake's --vendor openstack) names the output too, not its temp file.
func TestProgressNamesAheadOutput(t *testing.T) {
	f := testFixture(t)
	out := t.TempDir()
	st, err := os.Stat(f.base)
	if err != nil {
		t.Fatal(err)
	}
	a, err := diskfmt.StartQcow2Ahead(context.Background(), f.base, out, []sparse.Extent{{Off: 0, Len: st.Size() / 2}}, diskfmt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Advance(st.Size())
	rec := &descRecorder{}
	if _, err := Build(context.Background(), []Vendor{lookupVendor(t, "openstack")}, BuildOptions{Base: f.base, OutputDir: out,
		OEMSysextDir: f.oemDir, Reporter: rec, Ahead: a}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rec.descs, "\n")
	if !strings.Contains(all, "writing flatcar_production_openstack_image.img") {
		t.Errorf("no step naming the qcow2 output in:\n%s", all)
	}
	if strings.Contains(all, atomicfile.TempPrefix) {
		t.Errorf("temp file named in a step:\n%s", all)
	}
}

func lookupVendor(t *testing.T, name string) Vendor {
	v, ok := Lookup(name)
	if !ok {
		t.Fatalf("no vendor %s", name)
	}
	return v
}
