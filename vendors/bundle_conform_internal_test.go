package vendors

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/progress"
)

// TestBundleConformance is the conformance suite of the bundles: every
// registered bundle is some vendor's, and, run on the test image, writes
// exactly the files it declares under the names of the vendor table
// (nothing else appears in the output directory), reports each as an
// artifact of the declared kind, and each file passes a real judge for
// its kind (qemu-img, tar, xorriso, gzip and cpio, sh -n). It checks the
// build of every vendor, then one carrying an Ignition config with only
// gz copies kept.
func TestBundleConformance(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "tar", "gzip", "cpio", "xorriso", "sh")
	used := map[string][]Vendor{}
	for _, v := range append([]Vendor{Generic()}, All()...) {
		used[v.bundle().Name()] = append(used[v.bundle().Name()], v)
	}
	for _, b := range bundles() {
		if len(used[b.Name()]) == 0 {
			t.Errorf("bundle %s is no vendor's: give a vendor row Bundle %q or drop it from bundles", b.Name(), b.Name())
		}
	}

	out, arts := buildAll(t)
	var built []Vendor
	for _, v := range append([]Vendor{Generic()}, All()...) {
		if !slices.Contains(allSkip, v.Name) {
			built = append(built, v)
		}
	}
	t.Logf("%d vendors built in %v (skipped: %v)", len(built), buildAllTime, allSkip)
	checkConformance(t, out, arts, built, []Compression{CompressNone}, false)

	t.Run("ignition-gz", func(t *testing.T) {
		f := testFixture(t)
		// The live media: pxe writes a file only with a config, iso's
		// main output is compressible and small (gzip -t of a disk's
		// gigabytes of zeros takes minutes here).
		var vs []Vendor
		for _, v := range built {
			ignOnly := slices.ContainsFunc(v.bundle().Files(), func(f bundleFile) bool { return f.IgnitionOnly })
			if ignOnly || (v.Live() && v.compressible()) {
				vs = append(vs, v)
			}
		}
		if !slices.ContainsFunc(vs, func(v Vendor) bool { return v.Name == "pxe" }) {
			t.Fatalf("vendors %v: want pxe (and iso with ISOLINUX)", vs)
		}
		out := filepath.Join(t.TempDir(), "out")
		got, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: out, Compress: "gz",
			Workers: 2, Ignition: []byte(liveIgnition)})
		if err != nil {
			t.Fatal(err)
		}
		arts := map[string][]Artifact{}
		for _, a := range got {
			arts[a.Vendor] = append(arts[a.Vendor], a)
		}
		t.Logf("with Ignition, gz: %d vendors", len(vs))
		checkConformance(t, out, arts, vs, []Compression{CompressGz}, true)
	})
}

// conformFile is one file a vendor's bundle must have written.
type conformFile struct {
	vendor Vendor
	kind   string
	comp   Compression // of the main output; CompressNone for the others
}

// wantFiles lists, by file name, what the bundles of vs declare for comps
// and the Ignition setting.
func wantFiles(vs []Vendor, comps []Compression, ign bool) map[string]conformFile {
	want := map[string]conformFile{}
	for _, v := range vs {
		vc := v.compressions(comps)
		for _, f := range v.bundle().Files() {
			switch {
			case f.Role == roleMain:
				for _, c := range vc {
					want[v.File+c.Ext()] = conformFile{vendor: v, kind: f.Kind, comp: c}
				}
			case !f.IgnitionOnly || ign:
				want[v.Extras[f.Role]] = conformFile{vendor: v, kind: f.Kind, comp: CompressNone}
			}
		}
	}
	return want
}

// listingProblems compares the output directory with the declared files.
func listingProblems(dir string, want map[string]conformFile) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var probs []string
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
		if _, ok := want[e.Name()]; !ok {
			probs = append(probs, "undeclared "+e.Name())
		}
	}
	for n, f := range want {
		if !have[n] {
			probs = append(probs, fmt.Sprintf("missing %s (vendor %s)", n, f.vendor.Name))
		}
	}
	sort.Strings(probs)
	return probs
}

func checkConformance(t *testing.T, out string, arts map[string][]Artifact, vs []Vendor, comps []Compression, ign bool) {
	t.Helper()
	want := wantFiles(vs, comps, ign)
	for _, p := range listingProblems(out, want) {
		t.Errorf("output directory: %s", p)
	}
	seen := map[string]bool{}
	for _, v := range vs {
		for _, a := range arts[v.Name] {
			n := filepath.Base(a.Path)
			seen[n] = true
			f, ok := want[n]
			switch {
			case !ok || f.vendor.Name != v.Name:
				t.Errorf("%s: artifact %s is not a file its bundle declares", v.Name, n)
			case a.Kind != f.kind:
				t.Errorf("%s: artifact %s has kind %s, its bundle declares %s", v.Name, n, a.Kind, f.kind)
			case filepath.Dir(a.Path) != out:
				t.Errorf("%s: artifact %s is not in the output directory", v.Name, a.Path)
			}
		}
	}
	for n, f := range want {
		if !seen[n] {
			t.Errorf("%s: no artifact for %s", f.vendor.Name, n)
			continue
		}
		if err := judgeFile(filepath.Join(out, n), f); err != nil {
			t.Errorf("%s: %v", f.vendor.Name, err)
		}
	}
}

// qemuChecks are the formats qemu-img check supports.
var qemuChecks = map[string]bool{"qcow2": true, "vmdk": true, "vhdx": true, "parallels": true}

// judgeFile has a real tool judge file p of kind f.kind.
func judgeFile(p string, f conformFile) error {
	if f.comp != CompressNone {
		return judgeCompressed(p, f.comp)
	}
	main := f.vendor.File
	switch f.kind {
	case "disk":
		format := qemuFormat[f.vendor.Disk.Format]
		if f.vendor.Disk.Format == "" {
			format = "raw" // a live medium's own raw disk
		}
		var info qemuInfo
		if err := runJSON(&info, "qemu-img", "info", "--output=json", "-f", format, p); err != nil {
			return err
		}
		if info.VirtualSize <= 0 {
			return fmt.Errorf("%s: qemu-img sees no disk", p)
		}
		if qemuChecks[format] {
			return run("qemu-img", "check", "-q", "-f", format, p)
		}
		return nil
	case "firmware":
		return run("qemu-img", "check", "-q", "-f", "qcow2", p)
	case "archive":
		l, err := output("tar", "-tf", p)
		if err == nil && strings.TrimSpace(l) == "" {
			err = fmt.Errorf("%s: empty archive", p)
		}
		return err
	case "iso":
		l, err := output("xorriso", "-indev", p, "-find", "/flatcar", "-type", "f")
		if err != nil {
			return err
		}
		for _, m := range []string{isoKernelPath, isoInitrdPath} {
			if !strings.Contains(l, "/"+m) {
				return fmt.Errorf("%s lacks /%s:\n%s", p, m, l)
			}
		}
		return nil
	case "initrd":
		if err := run("gzip", "-t", p); err != nil {
			return err
		}
		l, err := output("sh", "-c", `gzip -dc "$1" | cpio -t --quiet`, "sh", p)
		if err != nil {
			return err
		}
		if !strings.Contains(l, usrSquashName) && !strings.Contains(l, ignitionInitrdPath) {
			return fmt.Errorf("%s holds neither %s nor %s: %q", p, usrSquashName, ignitionInitrdPath, l)
		}
		return nil
	case "kernel":
		if b, err := os.ReadFile(p); err != nil || string(b) != fakeKernel {
			return fmt.Errorf("%s is not the image's kernel: %q %v", p, b, err)
		}
		return nil
	case "script":
		if err := run("sh", "-n", p); err != nil {
			return err
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%s is not executable: %v", p, err)
		}
		return namesMain(p, main)
	case "config", "readme":
		return namesMain(p, main)
	}
	return fmt.Errorf("%s: no judge for kind %q: teach judgeFile", p, f.kind)
}

// namesMain: the configs, script and README of a bundle refer to its
// main output by the name the vendor table gives it.
func namesMain(p, main string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), main) {
		return fmt.Errorf("%s does not name %s", p, main)
	}
	return nil
}

func judgeCompressed(p string, c Compression) error {
	tools := map[Compression][]string{CompressGz: {"gzip", "-t"}, CompressBz2: {"bzip2", "-t"},
		CompressXz: {"xz", "-t"}, CompressZst: {"zstd", "-t", "-q"}, CompressZip: {"unzip", "-tq"}}
	tool, ok := tools[c]
	if !ok {
		return fmt.Errorf("%s: no judge for compression %s", p, c)
	}
	return run(tool[0], append(tool[1:], p)...)
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func runJSON(v any, name string, args ...string) error {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return json.Unmarshal(out, v)
}

// TestBundleConformanceRefuses plants defects and shows the suite's
// listing and judges refuse them: an undeclared and a missing file, and
// for each kind a file its judge rejects.
func TestBundleConformanceRefuses(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "tar", "gzip", "cpio", "xorriso", "sh")
	dir := t.TempDir()
	v, _ := Lookup("vmware")
	want := wantFiles([]Vendor{v}, []Compression{CompressNone}, false)
	os.WriteFile(filepath.Join(dir, v.File), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "stray.tmp"), nil, 0o644)
	got := strings.Join(listingProblems(dir, want), "; ")
	if !strings.Contains(got, "undeclared stray.tmp") || !strings.Contains(got, "missing "+v.Extras["vmx"]) {
		t.Errorf("listing problems %q: want the stray file and the missing .vmx", got)
	}

	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte(strings.Repeat("not this kind of file\n", 100)), 0o755)
	qemu, _ := Lookup("qemu_uefi")
	badScript := filepath.Join(dir, "bad.sh")
	os.WriteFile(badScript, []byte("#!/bin/sh\nif then "+qemu.File+"\n"), 0o755)
	for _, c := range []struct {
		p    string
		kind string
		v    Vendor
	}{
		{garbage, "disk", qemu}, {garbage, "firmware", qemu}, {garbage, "archive", v}, {garbage, "iso", v},
		{garbage, "initrd", v}, {garbage, "kernel", v}, {garbage, "config", v}, {badScript, "script", qemu},
		{garbage, "unknown", v},
	} {
		if err := judgeFile(c.p, conformFile{vendor: c.v, kind: c.kind}); err == nil {
			t.Errorf("judge of %s accepted %s", c.kind, filepath.Base(c.p))
		}
	}
	if err := judgeFile(garbage, conformFile{vendor: v, kind: "disk", comp: CompressGz}); err == nil {
		t.Error("judge of gz accepted garbage")
	}
}

// brokenBundle declares a config beside its main output and then
// misbehaves as told.
type brokenBundle struct{ skip, extra string }

func (brokenBundle) Name() string { return "broken" }

func (brokenBundle) Files() []bundleFile {
	return []bundleFile{{Role: roleMain, Kind: "disk", Compress: true}, {Role: "cfg", Kind: "config"},
		{Role: "ign", Kind: "config", IgnitionOnly: true}}
}

func (b brokenBundle) Build(ctx context.Context, c *bundleContext) error {
	for _, r := range []string{roleMain, "cfg", b.extra} {
		if r == "" || r == b.skip {
			continue
		}
		if err := c.writeFile(r, []byte(r), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestBundleDeclarationEnforced: the builder refuses a bundle that skips
// a file it declares, writes one it does not declare, or writes an
// Ignition-only file without a config; nothing is left in the output
// directory.
func TestBundleDeclarationEnforced(t *testing.T) {
	v := Vendor{Name: "broken", File: "flatcar_production_broken.img",
		Extras: map[string]string{"cfg": "flatcar_production_broken.cfg", "ign": "flatcar_production_broken.ign"}}
	for _, c := range []struct {
		b    brokenBundle
		want string
	}{
		{brokenBundle{}, ""},
		{brokenBundle{skip: "cfg"}, "did not write flatcar_production_broken.cfg"},
		{brokenBundle{extra: "other"}, `writes "other", which it does not declare`},
		{brokenBundle{extra: "ign"}, "wrote flatcar_production_broken.ign, which it declares only with an Ignition config"},
		{brokenBundle{extra: roleMain}, "writes main twice"},
	} {
		out := t.TempDir()
		st := &stage{dir: out}
		b := &builder{plan: &plan{}, work: t.TempDir(), st: st, rep: progress.OrNop(nil), workers: 1, cmdlines: map[string]string{}}
		err := b.buildJob(context.Background(), job{v: v, bundle: c.b, comps: []Compression{CompressNone}}, "")
		st.cleanup()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.b, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c.b, err, c.want)
		}
		if c.want == "" {
			continue
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("%+v: left %v", c.b, ents)
		}
	}
	if _, err := lookupBundle("nope"); err == nil || !strings.Contains(err.Error(), "qemu_uefi") {
		t.Errorf("unknown bundle: %v", err)
	}
}

// TestVendorRowFitsBundle: checkTable refuses a row whose Extras do not
// name exactly its bundle's roles, or that names no known bundle.
func TestVendorRowFitsBundle(t *testing.T) {
	xen, _ := Lookup("xen")
	for name, mutate := range map[string]func(v *Vendor){
		"missing role": func(v *Vendor) { v.Extras = map[string]string{"pygrub": "a.cfg"} },
		"unknown role": func(v *Vendor) { v.Extras = map[string]string{"pygrub": "a.cfg", "pvgrub": "b.cfg", "hvm": "c.cfg"} },
		"no bundle":    func(v *Vendor) { v.Bundle = "nope" },
	} {
		v := xen
		mutate(&v)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: accepted", name)
				}
			}()
			checkTable([]Vendor{v})
		}()
	}
}
