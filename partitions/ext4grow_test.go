package partitions_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/testimage"
)

// TestGrowExt4 grows ROOT to the vm layout and checks, with e2fsprogs,
// that the filesystem is clean, fills the partition, kept its files, and
// that the image file kept its size (resize2fs never saw the image).
func TestGrowExt4(t *testing.T) {
	testutil.RequireTool(t, "resize2fs", "e2fsck", "dumpe2fs", "debugfs")
	img := genImage(t, testimage.Options{RootFiles: map[string]string{"etc/keep": "kept\n"}})
	vm := flatcar.Layouts["vm"]
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := gpt.Grow(f, vm.DiskSectors, 9, vm.RootSectors); err != nil {
		t.Fatal(err)
	}
	f.Close()
	off, _ := offLen(flatcar.LabelROOT)
	size := int64(vm.RootSectors) * 512
	if err := partitions.GrowExt4(context.Background(), img, off, size, 1700000000); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(img)
	if st.Size() != vm.DiskBytes() {
		t.Errorf("image size %d, want %d", st.Size(), vm.DiskBytes())
	}
	spec := fmt.Sprintf("%s?offset=%d", img, off)
	testutil.Run(t, "e2fsck", "-fn", spec)
	if d := testutil.Run(t, "dumpe2fs", "-h", spec); !strings.Contains(d, fmt.Sprintf("Block count:              %d\n", size/4096)) {
		t.Errorf("block count not grown to %d", size/4096)
	}
	if got := testutil.Run(t, "debugfs", "-R", "cat /etc/keep", spec); !strings.HasSuffix(got, "\nkept\n") {
		t.Errorf("file lost: %q", got)
	}
	if v := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v: %s", v)
	}
}
