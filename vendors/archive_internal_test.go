package vendors

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

func TestOVFGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vmware bool
		stream bool
	}{{"vmware.ovf", true, true}, {"virtualbox.ovf", false, false}} {
		p := defaultOVF("flatcar_production_"+strings.TrimSuffix(tc.name, ".ovf"), "4593.2.5 <&>",
			"disk.vmdk", 123456, 13212057600, tc.stream)
		out, err := renderOVF(p, tc.vmware)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			XMLName xml.Name
			Disk    struct {
				Capacity string `xml:"capacity,attr"`
				Format   string `xml:"format,attr"`
			} `xml:"DiskSection>Disk"`
			File struct {
				Href string `xml:"href,attr"`
			} `xml:"References>File"`
		}
		if err := xml.Unmarshal(out, &env); err != nil {
			t.Fatalf("%s is not well-formed XML: %v", tc.name, err)
		}
		if env.XMLName.Local != "Envelope" || env.Disk.Capacity != "13212057600" || env.File.Href != "disk.vmdk" {
			t.Errorf("%s: parsed %+v", tc.name, env)
		}
		if tc.stream != strings.HasSuffix(env.Disk.Format, "#streamOptimized") {
			t.Errorf("%s: disk format %s", tc.name, env.Disk.Format)
		}
		golden(t, tc.name, string(out))
	}
	golden(t, "vmware.vmx", renderVMX("flatcar_production_vmware", "flatcar_production_vmware_image.vmdk", 2, 2048))
}

func TestOVA(t *testing.T) {
	dir := t.TempDir()
	vmdk := filepath.Join(dir, "x.vmdk")
	vmdkData := bytes.Repeat([]byte("vmdk data "), 100000)
	if err := os.WriteFile(vmdk, vmdkData, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ovf := []byte("<Envelope/>\n")
	if err := writeOVA(context.Background(), &buf, "flatcar", ovf, "flatcar-disk1.vmdk", vmdk); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var names []string
	sums := map[string]string{}
	var mf string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		s := sha1.Sum(data)
		sums[h.Name] = hex.EncodeToString(s[:])
		if strings.HasSuffix(h.Name, ".mf") {
			mf = string(data)
		}
	}
	if strings.Join(names, " ") != "flatcar.ovf flatcar-disk1.vmdk flatcar.mf" {
		t.Fatalf("member order %v", names)
	}
	want := "SHA1(flatcar.ovf)= " + sums["flatcar.ovf"] + "\nSHA1(flatcar-disk1.vmdk)= " + sums["flatcar-disk1.vmdk"] + "\n"
	if mf != want {
		t.Errorf("manifest %q, want %q", mf, want)
	}
}

// TestGCETar writes a sparse file whose data lies past 8 GiB (base-256
// numbers) across more runs than the header holds, then checks GNU tar's
// listing and a sparse extraction.
func TestGCETar(t *testing.T) {
	testutil.RequireTool(t, "tar")
	dir := t.TempDir()
	raw := filepath.Join(dir, "in.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	const size = 9<<30 + 64<<10
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	offs := []int64{0, 1 << 20, 3 << 20, 5 << 20, 7 << 20, 9 << 20, 11 << 20, 1 << 30, 8<<30 + 4096, size - 8192}
	for i, off := range offs {
		if _, err := f.WriteAt(bytes.Repeat([]byte{byte(i + 1)}, 4096), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	out := filepath.Join(dir, "gce.tar.gz")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeGCETar(context.Background(), o, raw, 2); err != nil {
		t.Fatal(err)
	}
	o.Close()
	list := testutil.Run(t, "tar", "-tvzf", out)
	if fields := strings.Fields(list); len(fields) < 6 || fields[5] != "disk.raw" || fields[2] != "9663741952" {
		t.Fatalf("tar -tvzf: %q", list)
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	testutil.Run(t, "tar", "-xSzf", out, "-C", x)
	got, err := os.Open(filepath.Join(x, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	st, _ := got.Stat()
	if st.Size() != size {
		t.Fatalf("extracted size %d", st.Size())
	}
	if blocks := st.Sys().(*syscall.Stat_t).Blocks; blocks*512 > 1<<20 {
		t.Errorf("extracted disk.raw uses %d bytes: holes were not kept", blocks*512)
	}
	for i, off := range offs {
		b := make([]byte, 4096)
		got.ReadAt(b, off)
		if !bytes.Equal(b, bytes.Repeat([]byte{byte(i + 1)}, 4096)) {
			t.Errorf("data run at %d differs", off)
		}
	}
	// Spot-check holes between runs read back as zeros.
	b := make([]byte, 4096)
	got.ReadAt(b, 2<<20)
	if sha256.Sum256(b) != sha256.Sum256(make([]byte, 4096)) {
		t.Error("hole at 2 MiB is not zero")
	}
}
