package vendors

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
)

// TestBuildReproducible builds the same vendors twice from the same inputs
// and compares every output's SHA-256, vendors with OEM content (the OEM
// btrfs rebuild) included. The time written is the Epoch option's; the
// environment is not read (its different value must not show).
func TestBuildReproducible(t *testing.T) {
	f := testFixture(t)
	testutil.RequireTool(t, "tar")
	t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
	var archive string // the parallels tar.gz of the first build
	var vs []Vendor
	for _, n := range []string{"xen", "parallels", "iso", "pxe", "usb", "openstack_mini"} {
		v, _ := Lookup(n)
		vs = append(vs, v)
	}
	sums := func() map[string][32]byte {
		out := t.TempDir()
		arts, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, OEMSysextDir: f.oemDir, Compress: "none", Epoch: 1700000000})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][32]byte{}
		for _, a := range arts {
			if a.Vendor == "parallels" && archive == "" {
				archive = a.Path
			}
			fh, err := os.Open(a.Path)
			if err != nil {
				t.Fatal(err)
			}
			// Hash the data extents and where they lie (holes are zeros).
			st, _ := fh.Stat()
			exts, err := sparse.DataExtents(fh, 0, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			// Hash non-zero 4 KiB blocks with their offsets, so the
			// result does not depend on how the file is allocated.
			h := sha256.New()
			fmt.Fprintln(h, st.Size())
			buf := make([]byte, 4096)
			for _, e := range exts {
				for off := e.Off; off < e.End(); off += 4096 {
					n, _ := fh.ReadAt(buf[:min(4096, e.End()-off)], off)
					if !sparse.IsZero(buf[:n]) {
						fmt.Fprintln(h, off)
						h.Write(buf[:n])
					}
				}
			}
			fh.Close()
			m[filepath.Base(a.Path)] = [32]byte(h.Sum(nil))
		}
		return m
	}
	a, b := sums(), sums()
	if archive == "" {
		t.Fatal("no parallels archive")
	}
	list := testutil.Run(t, "tar", "--full-time", "--utc", "-tvzf", archive)
	if !strings.Contains(list, "2023-11-14 22:13:20") || strings.Contains(list, "2020-09-13") {
		t.Errorf("the parallels archive is not dated by the Epoch option (2023-11-14 22:13:20):\n%s", list)
	}
	for n, s := range a {
		if b[n] != s {
			t.Errorf("%s differs between two builds", n)
		}
	}
}
