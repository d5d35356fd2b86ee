package vendors

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// fixture is one generated Flatcar test image plus OEM sysexts for every
// OEM id, shared by the build tests (generating takes a few seconds).
type fixture struct {
	dir, base, oemDir string
	err               error
}

var (
	fixOnce sync.Once
	fix     fixture
	fixDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

func testFixture(t *testing.T) fixture {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs")
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bake-os-vendors-test-")
		if err != nil {
			fix.err = err
			return
		}
		fixDir = dir
		fix.dir = dir
		fix.base = filepath.Join(dir, "img", "flatcar_production_image.bin")
		os.MkdirAll(filepath.Dir(fix.base), 0o755)
		fix.err = testimage.Generate(context.Background(), fix.base, testimage.Options{Arch: flatcar.ArchX86_64})
		fix.oemDir = filepath.Join(dir, "oem")
		os.MkdirAll(fix.oemDir, 0o755)
	})
	if fix.err != nil {
		t.Fatalf("generating test image: %v", fix.err)
	}
	for id := range grubSettings {
		if _, err := os.Stat(filepath.Join(fix.oemDir, "oem-"+id+".raw")); err != nil {
			makeOEMSysext(t, fix.oemDir, id, "gzip")
		}
	}
	return fix
}
