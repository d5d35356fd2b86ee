package vendors

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/testimage"
)

// allBuild builds every vendor once (one Build call, so groups are shared
// as in real use) and is reused by the per-vendor subtests.
var (
	allOnce sync.Once
	allOut  string
	allArts map[string][]Artifact
	allErr  error
	allSkip []string
)

func buildAll(t *testing.T) (string, map[string][]Artifact) {
	t.Helper()
	f := testFixture(t)
	testutil.RequireTool(t, "resize2fs", "btrfs", "mkfs.btrfs", "xorriso")
	allOnce.Do(func() {
		var vs []Vendor
		for _, v := range append([]Vendor{Generic()}, All()...) {
			if v.Disk.Format != "" {
				if _, err := lookupDisk(v.Disk); err != nil {
					allSkip = append(allSkip, v.Name)
					continue
				}
			}
			if _, err := findIsolinux(); err != nil && v.Bundle == "iso" && !isolinuxRequired() {
				allSkip = append(allSkip, v.Name)
				continue
			}
			if err := checkUSBGrub(); err != nil && v.Bundle == "usb" && !usbRequired() {
				allSkip = append(allSkip, v.Name)
				continue
			}
			vs = append(vs, v)
		}
		allOut = filepath.Join(f.dir, "out")
		start := time.Now()
		arts, err := Build(context.Background(), vs, BuildOptions{Base: f.base, OutputDir: allOut,
			OEMSysextDir: f.oemDir, Compress: "none", Workers: 2})
		allErr = err
		allArts = map[string][]Artifact{}
		for _, a := range arts {
			allArts[a.Vendor] = append(allArts[a.Vendor], a)
		}
		if err == nil {
			buildAllTime = time.Since(start)
		}
	})
	if allErr != nil {
		t.Fatalf("building all vendors: %v", allErr)
	}
	return allOut, allArts
}

var buildAllTime time.Duration

var qemuFormat = map[string]string{"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "parallels": "parallels"}

// TestVendors checks every vendor's outputs with independent readers.
func TestVendors(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "sgdisk", "e2fsck", "dumpe2fs", "tar", "unsquashfs", "cpio")
	out, arts := buildAll(t)
	t.Logf("built all vendors in %v", buildAllTime)
	for _, v := range append([]Vendor{Generic()}, All()...) {
		t.Run(v.Name, func(t *testing.T) {
			for _, s := range allSkip {
				if s == v.Name {
					t.Skipf("no %s %s writer in diskfmt, or no ISOLINUX for iso or GRUB for usb (set BAKE_TEST_REQUIRE_TOOLS=isolinux,grub-pc to require them)", v.Disk.Format, v.Disk.Subformat)
				}
			}
			got := map[string]bool{}
			for _, a := range arts[v.Name] {
				got[filepath.Base(a.Path)] = true
			}
			for _, want := range v.outputNames([]Compression{CompressNone}, false) {
				if !got[want] {
					t.Errorf("missing output %s (have %v)", want, got)
				}
			}
			main := filepath.Join(out, v.File)
			work := t.TempDir()
			check, ok := bundleChecks[v.bundle().Name()]
			if !ok {
				t.Fatalf("no deep check for bundle %s: add one to bundleChecks", v.bundle().Name())
			}
			check(t, out, v, main, work)
		})
	}
}

// bundleChecks read each bundle's outputs back with independent readers
// (beyond the conformance suite's judges): out is the output directory,
// main the vendor's main output, work a scratch directory.
var bundleChecks = map[string]func(t *testing.T, out string, v Vendor, main, work string){
	"disk":              func(t *testing.T, out string, v Vendor, main, work string) { checkDisk(t, v, main, work) },
	"gce":               func(t *testing.T, out string, v Vendor, main, work string) { checkGCE(t, v, main, work) },
	"ova":               func(t *testing.T, out string, v Vendor, main, work string) { checkOVA(t, v, main, work) },
	"vagrant":           func(t *testing.T, out string, v Vendor, main, work string) { checkBox(t, v, main, work) },
	"vagrant_parallels": func(t *testing.T, out string, v Vendor, main, work string) { checkBox(t, v, main, work) },
	"parallels":         func(t *testing.T, out string, v Vendor, main, work string) { checkBox(t, v, main, work) },
	"pxe":               func(t *testing.T, out string, v Vendor, main, work string) { checkPXE(t, out, v, work) },
	"iso":               func(t *testing.T, out string, v Vendor, main, work string) { checkISO(t, main, work) },
	"usb": func(t *testing.T, out string, v Vendor, main, work string) {
		checkUSB(t, main, work, nil, "initrd /flatcar/cpio.gz\n")
	},
	"qemu_uefi": func(t *testing.T, out string, v Vendor, main, work string) {
		checkDisk(t, v, main, work)
		checkQEMU(t, out, work)
	},
	"vmx": func(t *testing.T, out string, v Vendor, main, work string) {
		checkDisk(t, v, main, work)
		vmx, _ := os.ReadFile(filepath.Join(out, v.Extras["vmx"]))
		if !strings.Contains(string(vmx), `scsi0:0.fileName = "`+v.File+`"`) {
			t.Errorf("vmx does not name the disk:\n%s", vmx)
		}
	},
	"ovf": func(t *testing.T, out string, v Vendor, main, work string) {
		checkDisk(t, v, main, work)
		ovf, _ := os.ReadFile(filepath.Join(out, v.Extras["ovf"]))
		checkOVFRef(t, ovf, v.File, main)
	},
	"xen": func(t *testing.T, out string, v Vendor, main, work string) {
		checkDisk(t, v, main, work)
		for _, x := range v.Extras {
			c, _ := os.ReadFile(filepath.Join(out, x))
			if !strings.Contains(string(c), "target="+v.File) {
				t.Errorf("%s lacks the disk:\n%s", x, c)
			}
		}
	},
}

type qemuInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	FormatSpec  struct {
		Data struct {
			CreateType string `json:"create-type"`
		} `json:"data"`
	} `json:"format-specific"`
}

func imgInfo(t *testing.T, format, p string) qemuInfo {
	t.Helper()
	args := []string{"info", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out := testutil.Run(t, "qemu-img", append(args, p)...)
	var info qemuInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return info
}

// checkDisk checks a vendor disk file with qemu-img, converts it to raw
// and checks the partitioned content.
func checkDisk(t *testing.T, v Vendor, p, work string) {
	t.Helper()
	layout := flatcar.Layouts[v.Layout]
	want := layout.DiskBytes()
	if v.Disk.VirtualSize != 0 {
		want = v.Disk.VirtualSize
	}
	fmtName := qemuFormat[v.Disk.Format]
	info := imgInfo(t, fmtName, p)
	if info.Format != fmtName || info.VirtualSize != want {
		t.Errorf("qemu-img info: format %s size %d, want %s %d", info.Format, info.VirtualSize, fmtName, want)
	}
	if v.Disk.Format == "vmdk" && info.FormatSpec.Data.CreateType != v.Disk.Subformat {
		t.Errorf("vmdk create type %q, want %q", info.FormatSpec.Data.CreateType, v.Disk.Subformat)
	}
	if v.Disk.Adapter != "" {
		// The embedded descriptor (sector 1 on) names the controller.
		head := make([]byte, 64<<10)
		fh, _ := os.Open(p)
		fh.ReadAt(head, 0)
		fh.Close()
		if !bytes.Contains(head, []byte(`ddb.adapterType = "`+v.Disk.Adapter+`"`)) {
			t.Errorf("vmdk descriptor lacks adapter %s", v.Disk.Adapter)
		}
	}
	if v.Disk.Format == "vhd" {
		st, _ := os.Stat(p)
		if fixed := st.Size() == want+512; fixed != (v.Disk.Subformat == "fixed") {
			t.Errorf("%s VHD file is %d bytes for a %d-byte disk", v.Disk.Subformat, st.Size(), want)
		}
	}
	switch fmtName {
	case "qcow2", "vmdk", "vhdx", "parallels":
		testutil.Run(t, "qemu-img", "check", "-f", fmtName, p)
	}
	raw := p
	if fmtName != "raw" {
		raw = filepath.Join(work, "disk.raw")
		testutil.Run(t, "qemu-img", "convert", "-f", fmtName, "-O", "raw", p, raw)
	}
	if v.Disk.VirtualSize != 0 {
		// Forced size (exoscale): the disk is the layout's, the rest zeros.
		f, _ := os.OpenFile(raw, os.O_RDWR, 0)
		if n, _ := sparse.DataBytes(f, layout.DiskBytes(), want-layout.DiskBytes()); n != 0 {
			t.Errorf("%d data bytes past the layout's disk size", n)
		}
		f.Truncate(layout.DiskBytes())
		f.Close()
	}
	checkRaw(t, v, raw, work)
}

// checkRaw checks a raw disk: GPT valid, entries as in the base image with
// ROOT grown per layout, MBR boot code kept, ext4 clean and grown, OEM
// content.
func checkRaw(t *testing.T, v Vendor, raw, work string) {
	t.Helper()
	layout := flatcar.Layouts[v.Layout]
	if st, _ := os.Stat(raw); st.Size() != layout.DiskBytes() {
		t.Fatalf("raw disk is %d bytes, want %d", st.Size(), layout.DiskBytes())
	}
	if out := testutil.Run(t, "sgdisk", "-v", raw); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v: %s", out)
	}
	d, err := gpt.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	baseDisk, err := gpt.Open(fix.base)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Partitions) != len(baseDisk.Partitions) {
		t.Fatalf("%d entries, base has %d", len(d.Partitions), len(baseDisk.Partitions))
	}
	for i, p := range d.Partitions {
		bp := baseDisk.Partitions[i]
		if p.Label == flatcar.LabelROOT {
			if p.Sectors() != layout.RootSectors || p.FirstLBA != bp.FirstLBA {
				t.Errorf("ROOT has %d sectors at %d, want %d at %d", p.Sectors(), p.FirstLBA, layout.RootSectors, bp.FirstLBA)
			}
			bp.LastLBA = p.LastLBA
		}
		if p != bp {
			t.Errorf("entry %d changed: %+v, base %+v", p.Number, p, bp)
		}
	}
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 440)
	f.ReadAt(mbr, 0)
	if !bytes.Equal(mbr, testimage.MBRMarker) {
		t.Error("MBR bytes 0-439 changed")
	}
	root, _ := d.ByLabel(flatcar.LabelROOT)
	part := filepath.Join(work, "root.img")
	pf, _ := os.Create(part)
	pf.Truncate(root.Size())
	if err := sparse.CopyRange(context.Background(), pf, f, 0, root.Offset(), root.Size(), nil); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	testutil.Run(t, "e2fsck", "-fn", part)
	dump := testutil.Run(t, "dumpe2fs", "-h", part)
	wantBlocks := root.Size() / 4096
	if !strings.Contains(dump, "Block count:              "+itoa(wantBlocks)+"\n") {
		t.Errorf("ext4 not grown to %d blocks:\n%s", wantBlocks, grepLine(dump, "Block count"))
	}
	os.Remove(part)
	if v.OEM == "" {
		return
	}
	oem, _ := d.ByLabel(flatcar.LabelOEM)
	ed, err := partitions.OpenBtrfs(context.Background(), raw, oem.Offset(), oem.Size(), partitions.BtrfsOptions{WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	defer ed.Close()
	read := func(p string) string {
		r, err := ed.Open(p)
		if err != nil {
			t.Errorf("OEM %s: %v", p, err)
			return ""
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		return string(b)
	}
	wantGrub, _ := GrubConfig(v.OEM, flatcar.ArchX86_64)
	if g := read("/grub.cfg"); g != wantGrub || !strings.Contains(g, "set oem_id=") {
		t.Errorf("OEM grub.cfg = %q", g)
	}
	if rel := read("/oem-release"); !strings.HasPrefix(rel, "ID="+v.OEM+"\n") {
		t.Errorf("OEM oem-release = %q", rel)
	}
	sx := read("/sysext/oem-" + v.OEM + "-4593.2.5.raw")
	src, _ := os.ReadFile(filepath.Join(fix.oemDir, "oem-"+v.OEM+".raw"))
	if sx != string(src) {
		t.Errorf("OEM sysext content differs (%d bytes, want %d)", len(sx), len(src))
	}
	if st, err := ed.Stat("/sysext/active-oem-" + v.OEM); err != nil || st.Size != 0 {
		t.Errorf("marker active-oem-%s: %+v %v", v.OEM, st, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func tarList(t *testing.T, p string, gz bool) []string {
	t.Helper()
	flags := "-tf"
	if gz {
		flags = "-tzf"
	}
	return strings.Fields(testutil.Run(t, "tar", flags, p))
}

func checkGCE(t *testing.T, v Vendor, p, work string) {
	if l := tarList(t, p, true); strings.Join(l, " ") != "disk.raw" {
		t.Fatalf("gce tarball members %v", l)
	}
	testutil.Run(t, "tar", "-xSzf", p, "-C", work)
	raw := filepath.Join(work, "disk.raw")
	f, _ := os.Open(raw)
	st, _ := f.Stat()
	data, _ := sparse.DataBytes(f, 0, st.Size())
	f.Close()
	if data > 1<<30 {
		t.Errorf("extracted disk.raw has %d data bytes: holes lost", data)
	}
	checkRaw(t, v, raw, work)
}

func checkOVA(t *testing.T, v Vendor, p, work string) {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	sums := map[string]string{}
	var mf, ovf []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		hs := sha1.New()
		var w io.Writer = hs
		var keep *os.File
		if strings.HasSuffix(h.Name, ".vmdk") {
			keep, _ = os.Create(filepath.Join(work, h.Name))
			w = io.MultiWriter(hs, keep)
		}
		var buf bytes.Buffer
		if !strings.HasSuffix(h.Name, ".vmdk") {
			w = io.MultiWriter(hs, &buf)
		}
		io.Copy(w, tr)
		if keep != nil {
			keep.Close()
		}
		sums[h.Name] = hex.EncodeToString(hs.Sum(nil))
		switch filepath.Ext(h.Name) {
		case ".mf":
			mf = buf.Bytes()
		case ".ovf":
			ovf = buf.Bytes()
		}
	}
	if len(names) != 3 || filepath.Ext(names[0]) != ".ovf" || filepath.Ext(names[1]) != ".vmdk" || filepath.Ext(names[2]) != ".mf" {
		t.Fatalf("ova members %v: want ovf, vmdk, mf", names)
	}
	for _, n := range names[:2] {
		if !strings.Contains(string(mf), "SHA1("+n+")= "+sums[n]+"\n") {
			t.Errorf("manifest lacks the right SHA1 of %s:\n%s", n, mf)
		}
	}
	vmdk := filepath.Join(work, names[1])
	checkOVFRef(t, ovf, names[1], vmdk)
	checkDisk(t, v, vmdk, work)
}

// checkOVFRef parses an OVF and checks it refers to the disk with its size.
func checkOVFRef(t *testing.T, ovf []byte, name, disk string) {
	t.Helper()
	var env struct {
		File struct {
			Href string `xml:"href,attr"`
			Size int64  `xml:"size,attr"`
		} `xml:"References>File"`
	}
	if err := xml.Unmarshal(ovf, &env); err != nil {
		t.Fatalf("OVF: %v", err)
	}
	st, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	if env.File.Href != name || env.File.Size != st.Size() {
		t.Errorf("OVF references %s (%d bytes), want %s (%d)", env.File.Href, env.File.Size, name, st.Size())
	}
}

func checkBox(t *testing.T, v Vendor, p, work string) {
	members := tarList(t, p, true)
	testutil.Run(t, "tar", "-xzf", p, "-C", work)
	var disk string
	for _, m := range members {
		if strings.HasSuffix(m, ".vmdk") || strings.HasSuffix(m, ".hds") {
			disk = filepath.Join(work, m)
		}
	}
	if disk == "" {
		t.Fatalf("no disk in %v", members)
	}
	if v.Disk.Format == "parallels" {
		checkParallelsBundle(t, work, members, disk)
	}
	if v.Bundle != "parallels" {
		meta, err := os.ReadFile(filepath.Join(work, "metadata.json"))
		var m struct{ Provider string }
		if err != nil || json.Unmarshal(meta, &m) != nil {
			t.Fatalf("metadata.json: %v %s", err, meta)
		}
		wantProv := "virtualbox"
		if v.Bundle == "vagrant_parallels" {
			wantProv = "parallels"
		}
		if m.Provider != wantProv {
			t.Errorf("provider %q", m.Provider)
		}
		if _, err := os.Stat(filepath.Join(work, "Vagrantfile")); err != nil {
			t.Error(err)
		}
	}
	if v.Bundle == "vagrant" {
		if members[0] != "box.ovf" {
			t.Errorf("box members %v: box.ovf first", members)
		}
		ovf, _ := os.ReadFile(filepath.Join(work, "box.ovf"))
		checkOVFRef(t, ovf, filepath.Base(disk), disk)
	}
	checkDisk(t, v, disk, work)
}

func checkQEMU(t *testing.T, out, work string) {
	for _, n := range []string{qemuCodeName, qemuVarsName} {
		if info := imgInfo(t, "", filepath.Join(out, n)); info.Format != "qcow2" || info.VirtualSize == 0 {
			t.Errorf("%s: %+v", n, info)
		}
	}
	script := filepath.Join(out, qemuScriptName)
	testutil.Run(t, "sh", "-n", script)
	// Run the script with a fake qemu that prints its arguments.
	fake := filepath.Join(work, "fake-qemu")
	os.WriteFile(fake, []byte("#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n"), 0o755)
	ign := filepath.Join(work, "config.ign")
	os.WriteFile(ign, []byte("{}"), 0o644)
	cmd := exec.Command(script, "-i", ign, "-p", "2299", "--", "-vnc", ":1")
	cmd.Env = append(os.Environ(), "QEMU="+fake)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("launcher: %v\n%s", err, b)
	}
	args := string(b)
	for _, want := range []string{
		"name=opt/org.flatcar-linux/config,file=" + ign,
		"hostfwd=tcp::2299-:22",
		"if=pflash,unit=0,format=qcow2,readonly=on,file=" + filepath.Join(out, qemuCodeName),
		"if=pflash,unit=1,format=qcow2,file=" + filepath.Join(out, qemuVarsName),
		"if=virtio,format=qcow2,file=" + filepath.Join(out, "flatcar_production_qemu_uefi_image.img"),
		"-vnc\n:1\n",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("launcher args lack %q:\n%s", want, args)
		}
	}
}

const fakeKernel = "fake Flatcar kernel for x86-64\n"

func checkBootInitrd(t *testing.T, initrd, work string) {
	testutil.Run(t, "gzip", "-t", initrd)
	cpio := exec.Command("sh", "-c", "gzip -dc \"$1\" | cpio -idm --quiet", "sh", initrd)
	cpio.Dir = work
	if b, err := cpio.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v %s", err, b)
	}
	l := testutil.Run(t, "unsquashfs", "-l", filepath.Join(work, usrSquashName))
	if !strings.Contains(l, "squashfs-root/lib/os-release") {
		t.Errorf("usr.squashfs lacks lib/os-release:\n%s", l)
	}
}

func checkPXE(t *testing.T, out string, v Vendor, work string) {
	k, _ := os.ReadFile(filepath.Join(out, pxeKernelName))
	if string(k) != fakeKernel {
		t.Errorf("kernel = %q", k)
	}
	checkBootInitrd(t, filepath.Join(out, v.File), work)
}

// isolinuxRequired: ISOLINUX files are not a command, so RequireTool
// cannot check them; BAKE_TEST_REQUIRE_TOOLS=isolinux makes them required.
func isolinuxRequired() bool { return testutil.Required("isolinux") }

func checkISO(t *testing.T, p, work string) {
	report := testutil.Run(t, "xorriso", "-indev", p, "-report_el_torito", "plain")
	if !strings.Contains(report, "El Torito boot img :   1  BIOS  y   none") {
		t.Errorf("ISO has no BIOS El Torito boot image:\n%s", report)
	}
	cfg := filepath.Join(work, "isolinux.cfg")
	testutil.Run(t, "xorriso", "-osirrox", "on", "-indev", p, "-extract", "/isolinux/isolinux.cfg", cfg)
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "append initrd=/flatcar/cpio.gz") {
		t.Errorf("isolinux.cfg:\n%s", b)
	}
	testutil.Run(t, "xorriso", "-osirrox", "on", "-indev", p, "-extract", "/flatcar", filepath.Join(work, "x"))
	k, _ := os.ReadFile(filepath.Join(work, "x", "vmlinuz"))
	if string(k) != fakeKernel {
		t.Errorf("ISO kernel = %q", k)
	}
	checkBootInitrd(t, filepath.Join(work, "x", "cpio.gz"), work)
}

// checkRawGrub reads OEM /grub.cfg of a raw disk and compares it with
// GrubConfig(oem, arch).
func checkRawGrub(t *testing.T, raw, oem string, arch flatcar.Arch) {
	t.Helper()
	got := readEd(t, openOEM(t, raw), "/grub.cfg")
	want, _ := GrubConfig(oem, arch)
	if got != want {
		t.Errorf("grub.cfg for %s %s:\n%s\nwant:\n%s", oem, arch, got, want)
	}
}

// checkParallelsBundle checks the NAME.hdd directory: DiskDescriptor.xml
// parses, names the .hds beside it and gives the disk size in sectors.
func checkParallelsBundle(t *testing.T, work string, members []string, hds string) {
	t.Helper()
	dir := filepath.Dir(hds)
	if !strings.HasSuffix(dir, ".hdd") {
		t.Fatalf("image %s is not in a .hdd bundle (members %v)", hds, members)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "DiskDescriptor.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Size int64  `xml:"Disk_Parameters>Disk_size"`
		End  int64  `xml:"StorageData>Storage>End"`
		File string `xml:"StorageData>Storage>Image>File"`
		GUID string `xml:"StorageData>Storage>Image>GUID"`
		Shot string `xml:"Snapshots>Shot>GUID"`
	}
	if err := xml.Unmarshal(raw, &d); err != nil {
		t.Fatalf("DiskDescriptor.xml: %v", err)
	}
	info := imgInfo(t, "parallels", hds)
	if d.File != filepath.Base(hds) || d.Size*512 != info.VirtualSize || d.End != d.Size || d.GUID != d.Shot ||
		!strings.Contains(d.File, d.GUID) {
		t.Errorf("DiskDescriptor.xml %+v for %s (%d bytes)", d, filepath.Base(hds), info.VirtualSize)
	}
}
