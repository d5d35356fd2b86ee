package gpt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

func genImage(t *testing.T) string {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "sgdisk")
	img := filepath.Join(t.TempDir(), "flatcar_production_image.bin")
	if err := testimage.Generate(context.Background(), img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	return img
}

// sgdiskInfo parses "sgdisk -i N" (the independent reader).
func sgdiskInfo(t *testing.T, img string, n int) map[string]string {
	t.Helper()
	out := testutil.Run(t, "sgdisk", "-i", fmt.Sprint(n), img)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

var sectorRE = regexp.MustCompile(`^(\d+)`)

// TestFlatcarLayout asserts docs/flatcar.md's layout numbers, read back by sgdisk
// and by our reader.
func TestFlatcarLayout(t *testing.T) {
	img := genImage(t)
	d, err := gpt.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckFlatcar(); err != nil {
		t.Fatal(err)
	}
	if d.GUID != flatcar.DiskGUID || d.Size != 8455716864 {
		t.Errorf("disk GUID %s size %d", d.GUID, d.Size)
	}
	want := map[int][4]string{ // first, sectors, type, name
		1: {"4096", "2097152", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI-SYSTEM"},
		2: {"2101248", "4096", "21686148-6449-6E6F-744E-656564454649", "BIOS-BOOT"},
		3: {"2105344", "4194304", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-A"},
		4: {"6299648", "4194304", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-B"},
		6: {"10493952", "2097152", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "OEM"},
		7: {"12591104", "131072", "C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0", "OEM-CONFIG"},
		9: {"12722176", "3653632", "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "ROOT"},
	}
	for n, w := range want {
		info := sgdiskInfo(t, img, n)
		first := sectorRE.FindString(info["First sector"])
		size := sectorRE.FindString(info["Partition size"])
		if first != w[0] || size != w[1] || !strings.HasPrefix(info["Partition GUID code"], w[2]) || info["Partition name"] != "'"+w[3]+"'" {
			t.Errorf("partition %d: %v, want %v", n, info, w)
		}
		p, err := d.ByNumber(n)
		if err != nil || fmt.Sprint(p.FirstLBA) != w[0] || fmt.Sprint(p.Sectors()) != w[1] || p.Label != w[3] || !strings.EqualFold(p.TypeGUID, w[2]) {
			t.Errorf("our reader, partition %d: %+v %v", n, p, err)
		}
	}
	if a := sgdiskInfo(t, img, 3); a["Attribute flags"] != "0101000000000000" || a["Partition unique GUID"] != "7130C94A-213A-4E5A-8E26-6CCE9662F132" {
		t.Errorf("USR-A: %v", a)
	}
	if a := sgdiskInfo(t, img, 4)["Partition unique GUID"]; a != "E03DD35C-7C2D-4A47-B3FE-27F15780A57C" {
		t.Errorf("USR-B unique GUID %s", a)
	}
	if _, err := d.ByNumber(5); err == nil {
		t.Error("entry 5 should be blank")
	}
}

func corrupt(t *testing.T, img string, off int64) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	f.WriteAt(b, off)
}

func TestRefusesDamagedTables(t *testing.T) {
	base := genImage(t)
	size := int64(8455716864)
	cases := map[string]struct {
		damage func(img string)
		want   string
	}{
		"primary header CRC": {func(img string) { corrupt(t, img, 512+40) }, "primary GPT invalid"},
		"primary entries":    {func(img string) { corrupt(t, img, 1024+130) }, "primary GPT invalid"},
		"backup header":      {func(img string) { corrupt(t, img, size-512+40) }, "backup GPT invalid"},
		"backup entries":     {func(img string) { corrupt(t, img, size-33*512+5) }, "backup GPT invalid"},
		"truncated":          {func(img string) { os.Truncate(img, size-1<<20) }, "truncated"},
		"no MBR":             {func(img string) { corrupt(t, img, 510) }, "no protective MBR"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			testutil.Run(t, "cp", "--sparse=always", base, img)
			c.damage(img)
			_, err := gpt.Open(img)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestCheckFlatcarNamesWhatIsMissing(t *testing.T) {
	testutil.RequireTool(t, "sgdisk")
	img := filepath.Join(t.TempDir(), "other.bin")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 64<<20)
	testutil.Run(t, "sgdisk", "-n", "1:2048:+10M", "-c", "1:OEM", "-t", "1:8300", img)
	d, err := gpt.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	err = d.CheckFlatcar()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"EFI-SYSTEM", "USR-A", "ROOT", "not a Flatcar image"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v does not name %s", err, w)
		}
	}
	if strings.Contains(err.Error(), "labelled OEM") {
		t.Errorf("OEM is present: %v", err)
	}
}

// TestGrowToLayouts grows copies to each vendor layout and checks with
// sgdisk that only ROOT's end and the backup GPT moved.
func TestGrowToLayouts(t *testing.T) {
	base := genImage(t)
	mbr := make([]byte, 440)
	for _, name := range []string{"vm", "azure", "vagrant"} {
		t.Run(name, func(t *testing.T) {
			l := flatcar.Layouts[name]
			img := filepath.Join(t.TempDir(), "img")
			testutil.Run(t, "cp", "--sparse=always", base, img)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := gpt.Grow(f, l.DiskSectors, 9, l.RootSectors); err != nil {
				t.Fatal(err)
			}
			f.ReadAt(mbr, 0)
			f.Close()
			if string(mbr) != string(testimage.MBRMarker) {
				t.Error("MBR boot code changed")
			}
			st, _ := os.Stat(img)
			if st.Size() != l.DiskBytes() {
				t.Errorf("size %d, want %d", st.Size(), l.DiskBytes())
			}
			if v := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(v, "No problems found") {
				t.Errorf("sgdisk -v: %s", v)
			}
			for _, p := range flatcar.BaseLayout {
				a, b := sgdiskInfo(t, base, p.Number), sgdiskInfo(t, img, p.Number)
				if p.Number == 9 {
					if got := sectorRE.FindString(b["Partition size"]); got != fmt.Sprint(l.RootSectors) {
						t.Errorf("ROOT sectors %s, want %d", got, l.RootSectors)
					}
					delete(a, "Last sector")
					delete(b, "Last sector")
					delete(a, "Partition size")
					delete(b, "Partition size")
				}
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("partition %d changed:\n%v\n%v", p.Number, a, b)
				}
			}
			if !strings.Contains(testutil.Run(t, "sgdisk", "-p", img), "00000000-0000-0000-0000-000000000001") {
				t.Error("disk GUID changed")
			}
		})
	}
}
