package vendors

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
)

const sampleExtRelease = `ID='flatcar'
VERSION_ID='4593.2.5'
ARCHITECTURE='x86-64'
EXTENSION_RELOAD_MANAGER=1
SYSEXT_ID='oem-qemu'
SYSEXT_NAME="QEMU \"generic\" VM"
SYSEXT_VERSION_ID='4593.2.5'
SYSEXT_HOME_URL='https://www.qemu.org/'
SYSEXT_BUG_REPORT_URL='https://issues.flatcar.org'
`

func TestOEMReleaseGolden(t *testing.T) {
	got, err := OEMRelease([]byte(sampleExtRelease))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "oem-release.golden", got)
	if _, err := OEMRelease([]byte("ID=flatcar\n")); err == nil {
		t.Error("extension-release without SYSEXT_ID accepted")
	}
	if _, err := OEMRelease([]byte("SYSEXT_ID='unterminated\n")); err == nil {
		t.Error("bad quoting accepted")
	}
}

// makeOEMSysext builds an x86-64 oem-ID.raw with mksquashfs (compressor
// comp) in dir.
func makeOEMSysext(t *testing.T, dir, id, comp string) string {
	return makeOEMSysextArch(t, dir, id, comp, flatcar.ArchX86_64)
}

func makeOEMSysextArch(t *testing.T, dir, id, comp string, arch flatcar.Arch) string {
	t.Helper()
	testutil.RequireTool(t, "mksquashfs")
	tree := filepath.Join(t.TempDir(), "tree")
	rel := filepath.Join(tree, "usr/lib/extension-release.d")
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=" + string(arch) + "\nSYSEXT_ID=oem-" + id +
		"\nSYSEXT_NAME=\"OEM " + id + "\"\nSYSEXT_BUG_REPORT_URL=https://issues.flatcar.org\n"
	if err := os.WriteFile(filepath.Join(rel, "extension-release.oem-"+id), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "usr/share/oem"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "oem-"+id+".raw")
	cmd := exec.Command("mksquashfs", tree, out, "-all-root", "-noappend", "-quiet", "-comp", comp)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, b)
	}
	return out
}

func TestReadExtensionRelease(t *testing.T) {
	testutil.RequireTool(t, "unsquashfs")
	for _, comp := range []string{"gzip", "xz", "zstd", "lz4"} {
		t.Run(comp, func(t *testing.T) {
			p := makeOEMSysext(t, t.TempDir(), "qemu", comp)
			data, err := ReadExtensionRelease(context.Background(), p, "oem-qemu")
			if err != nil {
				t.Fatal(err)
			}
			got, err := OEMRelease(data)
			if err != nil {
				t.Fatal(err)
			}
			want := "ID=qemu\nNAME=\"OEM qemu\"\nBUG_REPORT_URL=https://issues.flatcar.org\n"
			if got != want {
				t.Errorf("oem-release = %q, want %q", got, want)
			}
			if _, err := ReadExtensionRelease(context.Background(), p, "oem-azure"); err == nil {
				t.Error("a sysext without extension-release.oem-azure was accepted as oem-azure")
			}
		})
	}
}
