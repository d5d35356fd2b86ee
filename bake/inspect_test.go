package bake_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestInspectOEM: inspect lists Flatcar's OEM sysext and its active-oem
// marker, a sysext baked into OEM, and leaves nothing in TMPDIR.
func TestInspectOEM(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	oemExt := filepath.Join(dir, "oem-qemu.raw")
	if err := testimage.Sysext(context.Background(), oemExt, "oem-qemu", "ID=_any\nARCHITECTURE=x86-64\n", nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(oemExt)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, testimage.Options{OEMFiles: map[string]string{
		"sysext/oem-qemu-4593.2.5.raw": string(data), "sysext/active-oem-qemu": "", "grub.cfg": "set oem_id=qemu\n"}})
	mine := f.sysext(t, "mine-1.raw", "mine", flatcarRelease)
	v := f.sysext(t, "v-1.raw", "v", flatcarRelease)
	vconf := filepath.Join(f.dir, "v.conf")
	os.WriteFile(vconf, []byte("[Target]\nCurrentSymlink=/var/lib/extensions/v.raw\n"), 0o644)
	oem, _ := bake.ParseTarget("oem:/sysext/")
	res, err := bake.Run(context.Background(), bake.Options{Image: f.image, OutputDir: f.out, Target: oem, Arch: flatcar.ArchX86_64,
		Sysexts: []bake.Sysext{{Name: "mine", File: mine}, {Name: "v", File: v, Conf: vconf}}})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	in, err := bake.Inspect(context.Background(), res.Image)
	if err != nil {
		t.Fatal(err)
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Errorf("inspect left %v in TMPDIR", left)
	}
	if left := dirEntries(t, f.out); len(left) != 1 {
		t.Errorf("inspect left %v beside the image", left)
	}
	got := map[string]string{}
	for _, e := range in.OEMSysexts {
		got[e.Path] = e.Name + " " + e.Release["ID"] + e.Error
	}
	if got["/sysext/oem-qemu-4593.2.5.raw"] != "oem-qemu _any" || got["/sysext/mine-1.raw"] != "mine flatcar" || got["/sysext/v-1.raw"] != "v flatcar" || len(got) != 3 {
		t.Errorf("OEM sysexts %v", got)
	}
	links := map[string]string{}
	for _, e := range in.Extensions {
		links[e.Link] = e.Target + " " + e.Release["ID"] + e.Error
	}
	if links["/etc/extensions/mine.raw"] != "/oem/sysext/mine-1.raw flatcar" || links["/var/lib/extensions/v.raw"] != "/oem/sysext/v-1.raw flatcar" || len(links) != 2 {
		t.Errorf("extensions %v", links)
	}
	if in.OEMError != "" {
		t.Errorf("OEM error: %s", in.OEMError)
	}
	if len(in.ActiveOEM) != 1 || in.ActiveOEM[0] != "qemu" {
		t.Errorf("active OEM %v", in.ActiveOEM)
	}
}

// TestInspectRefusesVMDisks: a qcow2, vmdk, vhdx or compressed input is
// named as such with what to do, not reported as a broken GPT.
func TestInspectRefusesVMDisks(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	for _, fmtName := range []string{"qcow2", "vmdk", "vhdx", "vpc"} {
		p := filepath.Join(dir, "disk."+fmtName)
		testutil.Run(t, "qemu-img", "create", "-q", "-f", fmtName, p, "64M")
		want := map[string]string{"vpc": "vhd"}[fmtName]
		if want == "" {
			want = fmtName
		}
		_, err := bake.Inspect(context.Background(), p)
		if err == nil || !strings.Contains(err.Error(), p+" is a "+want+" disk: inspect the raw image or convert it (qemu-img convert -O raw") {
			t.Errorf("%s: %v", fmtName, err)
		}
	}
	bz := filepath.Join(dir, "image.bin.bz2")
	os.WriteFile(bz, []byte("BZh91AY&SY"), 0o644)
	if _, err := bake.Inspect(context.Background(), bz); err == nil || !strings.Contains(err.Error(), "bzip2-compressed") {
		t.Errorf("bz2: %v", err)
	}
}
