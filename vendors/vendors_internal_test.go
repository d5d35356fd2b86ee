package vendors

import (
	"slices"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

func TestTableValid(t *testing.T) {
	checkTable(table)
	if got := len(All()); got != 33 {
		t.Errorf("All() has %d vendors, docs/vendors.md lists 33", got)
	}
}

func TestDuplicateNamePanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "duplicate vendor name ami") {
			t.Fatalf("want duplicate panic, got %v", r)
		}
	}()
	checkTable(append(All(), table[1]))
}

func TestParse(t *testing.T) {
	names := func(vs []Vendor) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Name)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		in   []string
		arch flatcar.Arch
		want string
		err  string
	}{
		{in: []string{"ami,azure", "ami", " gce "}, want: "ami,azure,gce"},
		{in: []string{"generic", "qemu_uefi"}, want: "generic,qemu_uefi"},
		{in: []string{"AMI"}, want: "ami"},
		{in: []string{"nope"}, err: `unknown vendor "nope": use one of generic, qemu_uefi,`},
		{in: []string{""}, err: "no vendor given"},
		{in: []string{"gce"}, arch: flatcar.ArchARM64, err: `vendor "gce" is not built for arm64`},
		{in: []string{"ami"}, arch: flatcar.ArchARM64, want: "ami"},
	} {
		vs, err := ParseForArch(tc.in, tc.arch)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || names(vs) != tc.want {
			t.Errorf("Parse(%q) = %s, %v; want %s", tc.in, names(vs), err, tc.want)
		}
	}
	all, err := Parse([]string{"all", "ami"})
	if err != nil || len(all) != 33 {
		t.Fatalf("Parse(all) = %d vendors, %v", len(all), err)
	}
	arm, err := ParseForArch([]string{"all"}, flatcar.ArchARM64)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range arm {
		if !v.Supports(flatcar.ArchARM64) {
			t.Errorf("all for arm64 includes %s", v.Name)
		}
	}
	if len(arm) == 0 || len(arm) == 33 {
		t.Errorf("all for arm64 has %d vendors", len(arm))
	}
}

func TestHelpText(t *testing.T) {
	h := HelpText()
	for _, n := range Names() {
		if !strings.Contains(h, "\n  "+n+" ") {
			t.Errorf("help text misses %s", n)
		}
	}
	for _, l := range strings.Split(h, "\n") {
		if len(l) > 80 {
			t.Errorf("help line over 80 columns: %q", l)
		}
	}
	golden(t, "help.txt", h)
}

func TestOutputNames(t *testing.T) {
	seen := map[string]string{}
	for _, v := range append(All(), Generic()) {
		if !strings.HasPrefix(v.File, "flatcar_production_") {
			t.Errorf("%s: output %s", v.Name, v.File)
		}
		for _, f := range v.outputNames([]Compression{CompressNone}, true) {
			if o, dup := seen[f]; dup {
				t.Errorf("%s and %s both write %s", o, v.Name, f)
			}
			seen[f] = v.Name
		}
	}
	if !slices.Contains(Names(), "all") {
		t.Error("Names lacks all")
	}
}

func TestGrubConfigGolden(t *testing.T) {
	var b strings.Builder
	for _, arch := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		seen := map[string]bool{}
		for _, v := range All() {
			if v.OEM == "" || seen[v.OEM] || !v.Supports(arch) {
				continue
			}
			seen[v.OEM] = true
			cfg, err := GrubConfig(v.OEM, arch)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("=== " + v.OEM + " " + string(arch) + "\n" + cfg)
		}
	}
	golden(t, "grub.cfg.golden", b.String())
	cfg, _ := GrubConfig("ami", flatcar.ArchX86_64)
	if !strings.Contains(cfg, `set oem_id="ec2"`) {
		t.Errorf("ami grub.cfg lacks oem_id ec2:\n%s", cfg)
	}
	cfg, _ = GrubConfig("stackit", flatcar.ArchX86_64)
	if !strings.Contains(cfg, `set oem_id="openstack"`) {
		t.Errorf("stackit grub.cfg lacks oem_id openstack:\n%s", cfg)
	}
	if _, err := GrubConfig("nope", flatcar.ArchX86_64); err == nil {
		t.Error("unknown OEM accepted")
	}
}
