package vendors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/progress"
)

// TestBuildRefusesBadInput: every bad input is reported before any work
// and leaves nothing in the output directory.
func TestBuildRefusesBadInput(t *testing.T) {
	f := testFixture(t)
	emptyDir := t.TempDir()
	lookup := func(n string) Vendor { v, _ := Lookup(n); return v }
	for _, tc := range []struct {
		name    string
		vendors []Vendor
		mod     func(o *BuildOptions)
		want    string
	}{
		{"missing OEM sysext", []Vendor{lookup("ami")}, func(o *BuildOptions) { o.OEMSysextDir = emptyDir },
			""},
		{"missing firmware", []Vendor{lookup("qemu_uefi")}, func(o *BuildOptions) { o.FirmwareDir = emptyDir },
			"no UEFI firmware for x86-64 in " + emptyDir},
		{"arch without vendor", []Vendor{lookup("gce")}, func(o *BuildOptions) { o.Arch = flatcar.ArchARM64 },
			`vendor "gce" is not built for arm64`},
		{"bad compression", []Vendor{lookup("ami")}, func(o *BuildOptions) { o.Compress = "rar" },
			`unknown compression "rar"`},
		{"no version", []Vendor{lookup("ami")}, func(o *BuildOptions) {
			o.FlatcarVersion = "nope"
		}, `flatcar version "nope"`},
		{"base not a disk", []Vendor{lookup("ami")}, func(o *BuildOptions) { o.Base = filepath.Join(emptyDir, "x") },
			"reading base image"},
		{"no vendors", nil, nil, "no vendor given"},
		{"firmware fetch fails", []Vendor{lookup("qemu_uefi")}, func(o *BuildOptions) {
			o.FetchFirmware = func(context.Context, string) (string, error) { return "", os.ErrNotExist }
		}, "fetching UEFI firmware flatcar_production_qemu_uefi_efi_code.qcow2"},
		{"fetch fails", []Vendor{lookup("azure")}, func(o *BuildOptions) {
			o.OEMSysextDir = emptyDir
			o.FetchOEM = func(context.Context, string) (string, error) { return "", os.ErrNotExist }
		}, "fetching OEM sysext oem-azure.raw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			o := BuildOptions{Base: f.base, OutputDir: out, OEMSysextDir: f.oemDir, Compress: "none"}
			if tc.mod != nil {
				tc.mod(&o)
			}
			if tc.name == "missing OEM sysext" {
				// The base image's directory is searched too: use a copy
				// of the image elsewhere via a symlink.
				dir := t.TempDir()
				os.Symlink(f.base, filepath.Join(dir, "flatcar_production_image.bin"))
				o.Base = filepath.Join(dir, "flatcar_production_image.bin")
				o.FlatcarVersion = "4593.2.5"
				tc.want = "OEM sysext oem-ami.raw not found in " + emptyDir + ", " + dir + ": pass --oem-sysext-dir"
			}
			_, err := Build(context.Background(), tc.vendors, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory was created: %v", err)
			}
		})
	}
}

// TestBuildFailureLeavesNothing cancels a build during the work and checks
// no file is left in the output directory.
func TestBuildFailureLeavesNothing(t *testing.T) {
	f := testFixture(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	o := BuildOptions{Base: f.base, OutputDir: out, OEMSysextDir: t.TempDir(), Compress: "none",
		FetchOEM: func(_ context.Context, id string) (string, error) {
			calls++
			return filepath.Join(f.oemDir, "oem-"+id+".raw"), nil
		}}
	v1, _ := Lookup("generic")
	v2, _ := Lookup("ami")
	// Validation passes (FetchOEM runs during validation), then the
	// context is cancelled when the first step of work starts.
	o.Reporter = cancelAfter{n: 1, cancel: cancel}
	_, err := Build(ctx, []Vendor{v1, v2}, o)
	if err == nil {
		t.Fatal("cancelled build succeeded")
	}
	if calls != 1 {
		t.Errorf("FetchOEM called %d times", calls)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}

func TestBuildExistingOutput(t *testing.T) {
	f := testFixture(t)
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "flatcar_production_image.bin"), []byte("x"), 0o644)
	_, err := Build(context.Background(), []Vendor{Generic()}, BuildOptions{Base: f.base, OutputDir: out, Compress: "none"})
	if err == nil || !strings.Contains(err.Error(), "exists: pass --force to replace it") {
		t.Fatalf("error %v", err)
	}
}

// cancelAfter is a Reporter that cancels the build's context when the
// n-th progress counter starts (n=1: at the first step of work).
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c cancelAfter) Counter(string, int64) progress.Counter {
	c.cancel()
	return progress.Nop().Counter("", 0)
}

// TestPreflight checks vendors before a base image exists.
func TestPreflight(t *testing.T) {
	f := testFixture(t)
	vs, err := Parse([]string{"qemu_uefi,azure,pxe"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := Preflight(context.Background(), vs, BuildOptions{OutputDir: out, OEMSysextDir: f.oemDir}); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	empty := t.TempDir()
	err = Preflight(context.Background(), vs, BuildOptions{OutputDir: out, OEMSysextDir: empty})
	if err == nil || !strings.Contains(err.Error(), "OEM sysext oem-qemu.raw not found in "+empty+": pass --oem-sysext-dir") {
		t.Errorf("preflight without sysexts: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("preflight created the output directory")
	}
}
