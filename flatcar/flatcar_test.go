package flatcar_test

import (
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

func TestLayoutsMatchDiskSizeRule(t *testing.T) {
	root := flatcar.BaseLayout[len(flatcar.BaseLayout)-1]
	for name, l := range flatcar.Layouts {
		got := flatcar.DiskSectorsFor(root.FirstSector + l.RootSectors)
		if got != l.DiskSectors {
			t.Errorf("layout %s: disk sectors %d, rule gives %d", name, l.DiskSectors, got)
		}
	}
	if b := flatcar.Layouts["base"].DiskBytes(); b != 8455716864 {
		t.Errorf("base disk bytes %d", b)
	}
}

func TestArchAndChannel(t *testing.T) {
	for in, want := range map[string]flatcar.Arch{"amd64": "x86-64", "x86_64": "x86-64", "aarch64": "arm64", "arm64": "arm64"} {
		a, err := flatcar.ParseArch(in)
		if err != nil || a != want {
			t.Errorf("ParseArch(%q) = %q, %v", in, a, err)
		}
	}
	if _, err := flatcar.ParseArch("riscv"); err == nil {
		t.Error("riscv accepted")
	}
	for v, ch := range map[string]string{"4593.2.5": "stable", "4757.1.0": "beta", "4790.0.0": "alpha", "4081.3.10": "lts"} {
		pv, err := flatcar.ParseVersion(v)
		if err != nil || pv.Channel() != ch {
			t.Errorf("%s: %v %v", v, pv.Channel(), err)
		}
	}
	for _, bad := range []string{"current-2021", "1.2", "1.2.3.4", "1.2.x", "v1.2.3"} {
		if _, err := flatcar.ParseVersion(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestArchOfEFILoader(t *testing.T) {
	for name, want := range map[string]flatcar.Arch{"bootx64.efi": "x86-64", "BOOTX64.EFI": "x86-64", "bootaa64.efi": "arm64", "BootAA64.efi": "arm64"} {
		if a, ok := flatcar.ArchOfEFILoader(name); !ok || a != want {
			t.Errorf("%s: %q %v", name, a, ok)
		}
	}
	for _, name := range []string{"grubx64.efi", "bootia32.efi", "bootriscv64.efi", "bootx64.efi.bak", ""} {
		if a, ok := flatcar.ArchOfEFILoader(name); ok {
			t.Errorf("%s: %q", name, a)
		}
	}
	for _, a := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		if got, _ := flatcar.ArchOfEFILoader(a.EFILoader()); got != a {
			t.Errorf("%s round trip: %s", a, got)
		}
	}
}
