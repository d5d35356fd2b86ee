package vendors

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
)

// TestBuildReleaseCompression builds with each vendor's release
// compression (--compress release) and checks every compressed output with
// its own tool.
func TestBuildReleaseCompression(t *testing.T) {
	testutil.RequireTool(t, "gzip", "bzip2", "unzip", "qemu-img")
	f := testFixture(t)
	out := t.TempDir()
	var vs []Vendor
	for _, n := range []string{"openstack_mini", "hyperv"} {
		v, _ := Lookup(n)
		vs = append(vs, v)
	}
	arts, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, OEMSysextDir: f.oemDir, Compress: "release"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range arts {
		names = append(names, filepath.Base(a.Path))
	}
	sort.Strings(names)
	want := "flatcar_production_hyperv_image.vhd.zip flatcar_production_openstack_mini_image.img.bz2 flatcar_production_openstack_mini_image.img.gz"
	if strings.Join(names, " ") != want {
		t.Fatalf("outputs %v, want %s", names, want)
	}
	testutil.Run(t, "gzip", "-t", filepath.Join(out, "flatcar_production_openstack_mini_image.img.gz"))
	testutil.Run(t, "bzip2", "-t", filepath.Join(out, "flatcar_production_openstack_mini_image.img.bz2"))
	testutil.Run(t, "unzip", "-tq", filepath.Join(out, "flatcar_production_hyperv_image.vhd.zip"))
	// The decompressed qcow2 is a valid image of the base layout.
	img := filepath.Join(t.TempDir(), "x.img")
	testutil.Run(t, "sh", "-c", "gzip -dc \"$1\" > \"$2\"", "sh", filepath.Join(out, "flatcar_production_openstack_mini_image.img.gz"), img)
	if info := imgInfo(t, "qcow2", img); info.VirtualSize != flatcar.Layouts["base"].DiskBytes() {
		t.Errorf("decompressed qcow2: %+v", info)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 3 {
		t.Errorf("output dir holds %d entries", len(ents))
	}
}

func TestBuildOEMArchMismatch(t *testing.T) {
	f := testFixture(t)
	v, _ := Lookup("ami")
	_, err := Build(context.Background(), []Vendor{v}, BuildOptions{Base: f.base, OutputDir: t.TempDir(),
		OEMSysextDir: f.oemDir, Arch: flatcar.ArchARM64, Compress: "none"})
	if err == nil || !strings.Contains(err.Error(), "is for x86-64, the image is arm64") {
		t.Fatalf("error %v", err)
	}
}

// TestBuildReleaseMode: OEM sysext and firmware come from the fetchers
// (release mode); the base image's directory is not searched and the
// release's qcow2 firmware is shipped as is.
func TestBuildReleaseMode(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	f := testFixture(t)
	dl := t.TempDir()
	raw := filepath.Join(dl, "fw.raw")
	os.WriteFile(raw, make([]byte, 1<<20), 0o644)
	fw := filepath.Join(dl, qemuCodeName)
	testutil.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, fw)
	var fetched []string
	v, _ := Lookup("qemu_uefi")
	out := t.TempDir()
	_, err := Build(context.Background(), []Vendor{v}, BuildOptions{Base: f.base, OutputDir: out, Compress: "none",
		FetchOEM: func(_ context.Context, id string) (string, error) {
			fetched = append(fetched, "oem-"+id)
			return filepath.Join(f.oemDir, "oem-"+id+".raw"), nil
		},
		FetchFirmware: func(_ context.Context, name string) (string, error) {
			fetched = append(fetched, name)
			return fw, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(fetched, " ") != "flatcar_production_qemu_uefi_efi_code.qcow2 flatcar_production_qemu_uefi_efi_vars.qcow2 oem-qemu" {
		t.Errorf("fetched %v", fetched)
	}
	a, _ := os.ReadFile(fw)
	b, _ := os.ReadFile(filepath.Join(out, qemuVarsName))
	if string(a) != string(b) {
		t.Error("release firmware not shipped as is")
	}
}
