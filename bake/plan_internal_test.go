package bake

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/vendors"
)

// TestPlanVendorOEMFiles: a sysext placed where a vendor writes its OEM
// files (here /sysext/oem-qemu-VERSION.raw and /grub.cfg) is refused
// before any work, naming the vendor and the sysext.
func TestPlanVendorOEMFiles(t *testing.T) {
	dir := t.TempDir()
	qemu, ok := vendors.Lookup("qemu_uefi")
	if !ok {
		t.Fatal("no qemu_uefi vendor")
	}
	for target, file := range map[string]string{"oem:/sysext/": "oem-qemu-4593.2.5.raw", "oem:/": "grub.cfg"} {
		p := filepath.Join(dir, strings.ReplaceAll(target, "/", "_"), file)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
		tg, err := ParseTarget(target)
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Target: tg, Arch: flatcar.ArchX86_64, Vendors: []vendors.Vendor{qemu}, Sysexts: []Sysext{{Name: "x", File: p}}}
		_, err = planOf(o, "4593.2.5", slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "vendor qemu_uefi's OEM file") || !strings.Contains(err.Error(), "sysext x's image ("+file+")") {
			t.Errorf("%s%s: %v", target, file, err)
		}
		// Without the vendor the same bake is fine.
		o.Vendors = nil
		if _, err := planOf(o, "4593.2.5", slog.New(slog.DiscardHandler)); err != nil {
			t.Errorf("%s%s without vendor: %v", target, file, err)
		}
	}
}

// TestPlanConfNotes: the log says where a conf came from, and warns when
// a MatchPattern cannot match the installed file name.
func TestPlanConfNotes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wasmtime-24.0.0-x86-64.raw")
	os.WriteFile(file, []byte("x"), 0o644)
	conf := filepath.Join(dir, "wasmtime.conf")
	os.WriteFile(conf, []byte("[Source]\nMatchPattern=wasmtime-@v-%a.raw\n[Target]\nMatchPattern=wasmtime_@v.raw\nPath=/opt/extensions/wasmtime\n"), 0o644)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tg, _ := ParseTarget(DefaultInstallTo)
	bp, err := planOf(Options{Target: tg, Arch: flatcar.ArchX86_64, Sysexts: []Sysext{{Name: "wasmtime", File: file, Conf: conf, ConfFrom: "in the current directory"}}}, "", log)
	if err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	if !strings.Contains(got, "sysupdate config "+conf+" (in the current directory)") {
		t.Errorf("conf source not logged: %s", got)
	}
	if !strings.Contains(got, "[Target] MatchPattern=wasmtime_@v.raw cannot match wasmtime-24.0.0-x86-64.raw") || strings.Contains(got, "[Source] MatchPattern") {
		t.Errorf("pattern warnings: %s", got)
	}
	if p := bp.Placements[0]; p.Path != "/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw" || !bp.Noop {
		t.Errorf("placement %+v", p)
	}
}

// planOf is plan for a job made straight from o, as Preflight would for a
// local image of version.
func planOf(o Options, version string, log *slog.Logger) (*bakePlan, error) {
	return plan(&job{o: o, target: o.Target, arch: o.Arch, sysexts: o.Sysexts, version: version, log: log})
}
