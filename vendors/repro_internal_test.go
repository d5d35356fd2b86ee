package vendors

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/sparse"
)

// TestBuildReproducible builds the same vendors twice from the same inputs
// and compares every output's SHA-256 (STYLE rule 13), vendors with OEM
// content (the OEM btrfs rebuild) included.
func TestBuildReproducible(t *testing.T) {
	f := testFixture(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var vs []Vendor
	for _, n := range []string{"xen", "parallels", "iso", "pxe", "openstack_mini"} {
		v, _ := Lookup(n)
		vs = append(vs, v)
	}
	sums := func() map[string][32]byte {
		out := t.TempDir()
		arts, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, OEMSysextDir: f.oemDir, Compress: "none"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][32]byte{}
		for _, a := range arts {
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
	for n, s := range a {
		if b[n] != s {
			t.Errorf("%s differs between two builds", n)
		}
	}
}
