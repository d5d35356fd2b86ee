package vendors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestBuildARM64 builds the arm64 flavour of the vendors whose output
// depends on the architecture: qemu_uefi (AAVMF firmware, aarch64 qemu),
// ami (arm64 console in grub.cfg) and pxe.
func TestBuildARM64(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "qemu-img", "resize2fs", "btrfs")
	dir := t.TempDir()
	base := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(context.Background(), base, testimage.Options{Arch: flatcar.ArchARM64}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"qemu", "ami"} {
		makeOEMSysextArch(t, dir, id, "gzip", flatcar.ArchARM64)
	}
	fwDir := t.TempDir()
	for _, n := range []string{"AAVMF_CODE.fd", "AAVMF_VARS.fd"} {
		os.WriteFile(filepath.Join(fwDir, n), make([]byte, 1<<20), 0o644)
	}
	vs, err := ParseForArch([]string{"qemu_uefi,ami,pxe"}, flatcar.ArchARM64)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := Build(context.Background(), vs, BuildOptions{Base: base, OutputDir: out, Arch: flatcar.ArchARM64,
		FirmwareDir: fwDir, Compress: "none"}); err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(filepath.Join(out, qemuScriptName))
	if !strings.Contains(string(script), "qemu-system-aarch64") || !strings.Contains(string(script), `-machine "virt,`) {
		t.Errorf("arm64 launcher:\n%s", script)
	}
	if info := imgInfo(t, "", filepath.Join(out, qemuCodeName)); info.Format != "qcow2" || info.VirtualSize != 1<<20 {
		t.Errorf("AAVMF code as qcow2: %+v", info)
	}
	k, _ := os.ReadFile(filepath.Join(out, pxeKernelName))
	if string(k) != "fake Flatcar kernel for arm64\n" {
		t.Errorf("pxe kernel %q", k)
	}
	v, _ := Lookup("ami")
	raw := filepath.Join(out, v.File)
	// grub.cfg in OEM carries the arm64 console and no BIOS block.
	checkRawGrub(t, raw, "ami", flatcar.ArchARM64)
}
