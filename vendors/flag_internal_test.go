package vendors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

func TestListValue(t *testing.T) {
	var l ListValue
	if err := l.Set("ami,gce"); err != nil {
		t.Fatal(err)
	}
	if err := l.Set("azure"); err != nil {
		t.Fatal(err)
	}
	vs, err := Parse(l)
	if err != nil || len(vs) != 3 || l.String() != "ami,gce,azure" || l.Type() != "vendor" {
		t.Errorf("ListValue %v -> %v, %v", l, vs, err)
	}
	// Names are checked once, by the table lookup.
	if err := l.Set("bogus"); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(l); err == nil || !strings.Contains(err.Error(), `unknown vendor "bogus": use one of`) {
		t.Errorf("bogus vendor: %v", err)
	}
	var c CompressValue
	if err := c.Set("gz,zip"); err != nil || c.String() != "gz,zip" {
		t.Errorf("CompressValue: %v", err)
	}
	if err := c.Set("lzma"); err == nil {
		t.Error("lzma accepted")
	}
}

func TestFindFirmware(t *testing.T) {
	dir := t.TempDir()
	if _, err := findFirmware(flatcar.ArchX86_64, dir); err == nil || !strings.Contains(err.Error(), "no UEFI firmware for x86-64 in "+dir) {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "OVMF_CODE.fd"), make([]byte, 4096), 0o644)
	if _, err := findFirmware(flatcar.ArchX86_64, dir); err == nil {
		t.Error("code without vars accepted")
	}
	os.WriteFile(filepath.Join(dir, "OVMF_VARS.fd"), make([]byte, 4096), 0o644)
	fw, err := findFirmware(flatcar.ArchX86_64, dir)
	if err != nil || fw.Qcow2 || filepath.Base(fw.Code) != "OVMF_CODE.fd" || filepath.Base(fw.Vars) != "OVMF_VARS.fd" {
		t.Errorf("OVMF pair: %+v %v", fw, err)
	}
	os.WriteFile(filepath.Join(dir, qemuCodeName), nil, 0o644)
	os.WriteFile(filepath.Join(dir, qemuVarsName), nil, 0o644)
	if fw, err := findFirmware(flatcar.ArchX86_64, dir); err != nil || !fw.Qcow2 {
		t.Errorf("release qcow2 files not preferred: %+v %v", fw, err)
	}
	if _, err := findFirmware(flatcar.ArchARM64, t.TempDir()); err == nil || !strings.Contains(err.Error(), "AAVMF_CODE.fd + AAVMF_VARS.fd") {
		t.Errorf("arm64 error: %v", err)
	}
	// The distribution's files, where installed.
	for _, arch := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		if fw, err := findFirmware(arch, ""); err == nil {
			t.Logf("%s firmware: %s + %s", arch, fw.Code, fw.Vars)
		}
	}
}
