package bake

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/vendors"
)

// TestOutputPathsFromBundles: the outputs a bake checks against its input
// are what the vendors' bundles declare: pxe's Ignition initrd when a
// config is baked (and not without one), compressed copies asked for; an
// input image at such a path is refused.
func TestOutputPathsFromBundles(t *testing.T) {
	pxe, _ := vendors.Lookup("pxe")
	iso, _ := vendors.Lookup("iso")
	dir := t.TempDir()
	ign := filepath.Join(dir, pxe.Extras["ignition"])
	if err := os.WriteFile(ign, []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{OutputDir: dir, Vendors: []vendors.Vendor{pxe, iso}, IgnitionFile: "config.ign",
		VendorOptions: vendors.BuildOptions{Compress: "none,bz2"}}
	outs, err := outputPaths(&job{o: o, outputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ign, filepath.Join(dir, pxe.File), filepath.Join(dir, pxe.Extras["kernel"]),
		filepath.Join(dir, iso.File), filepath.Join(dir, iso.File+".bz2")} {
		if !slices.Contains(outs, want) {
			t.Errorf("outputs %v lack %s", outs, want)
		}
	}
	if err := checkOutput(ign, outs); err == nil || !strings.Contains(err.Error(), "is the input image") {
		t.Errorf("input image at pxe's Ignition initrd: %v", err)
	}
	o.IgnitionFile = ""
	if outs, err = outputPaths(&job{o: o, outputDir: dir}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(outs, ign) {
		t.Errorf("without a config the outputs %v hold %s", outs, ign)
	}
	o.VendorOptions.Compress = "rar"
	if _, err := outputPaths(&job{o: o, outputDir: dir}); err == nil {
		t.Error("unknown compression accepted")
	}
}
