package bake_test

import (
	"context"
	"github.com/bake-os/bake-os/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/testimage"
)

const wasmConf = `[Transfer]
Verify=false

[Source]
Type=url-file
Path=https://extensions.flatcar.org/extensions/wasmtime/
MatchPattern=wasmtime-@v-%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path=/opt/extensions/wasmtime
CurrentSymlink=/etc/extensions/wasmtime.raw
`

func TestBakeIntoROOT(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	wasm := f.sysext(t, "wasmtime-24.0.0-x86-64.raw", "wasmtime", flatcarRelease)
	if err := os.WriteFile(filepath.Join(f.dir, "wasmtime.conf"), []byte(wasmConf), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := f.sysext(t, "myext-1.0.1-x86-64.raw", "myext", "ID=_any\n")
	sysexts, err := bake.ParseSysextArgs([]string{"wasmtime:wasmtime-24.0.0-x86-64.raw", "myext:myext-1.0.1-x86-64.raw"}, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	inSum := testutil.DataSHA256(t, f.image)
	res, err := bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Arch: flatcar.ArchX86_64, Sysexts: sysexts,
		Masks: []string{"docker-flatcar", "containerd-flatcar"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.out, "flatcar_production_image.bin")
	if res.Image != out {
		t.Errorf("result image %s", res.Image)
	}
	if testutil.DataSHA256(t, f.image) != inSum {
		t.Error("input image changed")
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("output mode %v %v, want 0644", st.Mode(), err)
	}
	judge(t, f.image, out)

	// Managed by sysupdate: placed in [Target] Path, linked by CurrentSymlink.
	want := map[string]struct{ file, src string }{
		"/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw": {src: wasm},
		"/opt/extensions/myext-1.0.1-x86-64.raw":              {src: plain},
	}
	for p, w := range want {
		if got := sha(debugfsCat(t, out, p)); got != testutil.FileSHA256(t, w.src) {
			t.Errorf("%s: content differs from %s", p, w.src)
		}
		st := debugfsStat(t, out, p)
		if st.typ != "regular" || st.mode != "0644" || st.uid != "0" || st.gid != "0" {
			t.Errorf("%s: %+v, want regular 0644 0:0", p, st)
		}
	}
	links := map[string]string{
		"/etc/extensions/wasmtime.raw":           "/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw",
		"/etc/extensions/myext.raw":              "/opt/extensions/myext-1.0.1-x86-64.raw",
		"/etc/extensions/docker-flatcar.raw":     "/dev/null",
		"/etc/extensions/containerd-flatcar.raw": "/dev/null",
	}
	for p, target := range links {
		st := debugfsStat(t, out, p)
		if st.typ != "symlink" || st.link != target || st.uid != "0" {
			t.Errorf("%s: %+v, want symlink to %s", p, st, target)
		}
	}
	for _, d := range []string{"/opt/extensions", "/opt/extensions/wasmtime", "/etc/extensions", "/etc/sysupdate.wasmtime.d", "/etc/sysupdate.d"} {
		if st := debugfsStat(t, out, d); st.typ != "directory" || st.mode != "0755" || st.uid != "0" {
			t.Errorf("%s: %+v", d, st)
		}
	}
	if got := string(debugfsCat(t, out, "/etc/sysupdate.wasmtime.d/wasmtime.conf")); got != wasmConf {
		t.Errorf("sysupdate conf = %q", got)
	}
	if got := string(debugfsCat(t, out, "/etc/sysupdate.d/noop.conf")); !strings.Contains(got, "MatchPattern=invalid@v.raw") {
		t.Errorf("noop.conf = %q", got)
	}
	// Sparse: du(out) <= du(in) + sysexts + 10%.
	limit := du(t, f.image) + du(t, wasm) + du(t, plain)
	if got := du(t, out); got > limit+limit/10 {
		t.Errorf("output allocates %d bytes, limit %d", got, limit+limit/10)
	}
	// inspect reports what was baked.
	in, err := bake.Inspect(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Extensions) != 4 || len(in.Masks) != 2 || len(in.Sysupdate) != 2 || len(in.Partitions) != 7 {
		t.Errorf("inspect: %+v", in)
	}
	for _, e := range in.Extensions {
		if e.Name == "wasmtime" && (e.Release["ID"] != "flatcar" || e.Target != links["/etc/extensions/wasmtime.raw"]) {
			t.Errorf("inspect wasmtime: %+v", e)
		}
	}
}

func TestBakeIntoOEM(t *testing.T) {
	f := newFixture(t, testimage.Options{OEMFiles: map[string]string{"grub.cfg": "set oem_id=\"qemu\"\n"}})
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	target, err := bake.ParseTarget("oem:/sysext/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bake.Run(context.Background(), bake.Options{
		Image: f.image, OutputDir: f.out, Target: target, Arch: flatcar.ArchX86_64,
		Sysexts: []bake.Sysext{{Name: "myext", File: ext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.out, "flatcar_production_image.bin")
	judge(t, f.image, out)
	dir := btrfsRestore(t, out)
	if got := testutil.FileSHA256(t, filepath.Join(dir, "sysext/myext.raw")); got != testutil.FileSHA256(t, ext) {
		t.Error("OEM sysext content differs")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "grub.cfg")); err != nil || string(b) != "set oem_id=\"qemu\"\n" {
		t.Errorf("existing OEM grub.cfg lost: %q %v", b, err)
	}
	st := debugfsStat(t, out, "/etc/extensions/myext.raw")
	if st.link != "/oem/sysext/myext.raw" {
		t.Errorf("link %+v", st)
	}
	fi, err := os.Lstat(filepath.Join(dir, "sysext/myext.raw"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("OEM file mode %v %v", fi.Mode(), err)
	}
}

func TestBakeFromBzip2(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	bz := f.image + ".bz2"
	if err := testimage.Bzip2(context.Background(), f.image, bz); err != nil {
		t.Fatal(err)
	}
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	if _, err := bake.Run(context.Background(), bake.Options{
		Image: bz, OutputDir: f.out, Sysexts: []bake.Sysext{{Name: "myext", File: ext}},
	}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.out, "flatcar_production_image.bin")
	judge(t, f.image, out)
	if got := sha(debugfsCat(t, out, "/opt/extensions/myext.raw")); got != testutil.FileSHA256(t, ext) {
		t.Error("content differs")
	}
}

func TestBakeIsReproducible(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	var sums []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(f.out, string(rune('a'+i)))
		os.MkdirAll(out, 0o755)
		if _, err := bake.Run(context.Background(), bake.Options{
			Image: f.image, OutputDir: out, Epoch: 1700000000, Sysexts: []bake.Sysext{{Name: "myext", File: ext}},
		}); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, testutil.DataSHA256(t, filepath.Join(out, "flatcar_production_image.bin")))
	}
	if sums[0] != sums[1] {
		t.Error("two bakes with the same epoch differ")
	}
}
