package vendors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
)

// sparseFixture writes a 20 MiB file with a few data runs and holes, and
// makes hole chunks 1 MiB so that runs of whole hole chunks occur.
func sparseFixture(t *testing.T) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := holeChunk
	holeChunk = 1 << 20
	t.Cleanup(func() { holeChunk = old })
	const size = 20 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, off := range []int64{0, 5 << 20, 9<<20 - 512, 16 << 20, size - 4096} {
		b := bytes.Repeat([]byte{byte('a' + i), 1, 2, 3}, 1024)
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, sha256.Sum256(data)
}

func TestSparseReader(t *testing.T) {
	p, sum := sparseFixture(t)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := newSparseReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 3<<20+17) // odd size to cross extent edges
	for {
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if [32]byte(h.Sum(nil)) != sum {
		t.Error("sparse reader output differs from the file")
	}
}

func TestCompressRoundTrip(t *testing.T) {
	src, sum := sparseFixture(t)
	for _, tc := range []struct {
		c      Compression
		tool   string
		test   []string // integrity test
		decomp []string // decompress to stdout
	}{
		{CompressGz, "gzip", []string{"gzip", "-t"}, []string{"gzip", "-dc"}},
		{CompressXz, "xz", []string{"xz", "-t"}, []string{"xz", "-dc"}},
		{CompressZst, "zstd", []string{"zstd", "-t", "-q"}, []string{"zstd", "-dcq"}},
		{CompressBz2, "bzip2", []string{"bzip2", "-t"}, []string{"bzip2", "-dc"}},
		{CompressZip, "unzip", []string{"unzip", "-tq"}, []string{"unzip", "-p"}},
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			testutil.RequireTool(t, tc.tool)
			dst := filepath.Join(t.TempDir(), "out"+tc.c.Ext())
			if err := CompressFile(context.Background(), src, dst, "disk.img", tc.c, 2); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, tc.test[0], append(tc.test[1:], dst)...)
			out, err := exec.Command(tc.decomp[0], append(tc.decomp[1:], dst)...).Output()
			if err != nil {
				t.Fatalf("%v: %v", tc.decomp, err)
			}
			if sha256.Sum256(out) != sum {
				t.Errorf("%s round trip differs (%d bytes)", tc.c, len(out))
			}
			if tc.c == CompressZip {
				l := testutil.Run(t, "unzip", "-l", dst)
				if !strings.Contains(l, "disk.img") {
					t.Errorf("zip member name: %s", l)
				}
			}
		})
	}
}

func TestParseCompressions(t *testing.T) {
	cs, err := ParseCompressions("gz, bz2,gz,none")
	if err != nil || len(cs) != 3 || cs[0] != CompressGz || cs[2] != CompressNone {
		t.Errorf("ParseCompressions = %v, %v", cs, err)
	}
	if _, err := ParseCompressions("rar"); err == nil || !strings.Contains(err.Error(), "none, release, bz2, gz, xz, zst, zip") {
		t.Errorf("bad compression error: %v", err)
	}
}

// TestVendorCompressions: by default only the uncompressed disk; "release"
// expands to the vendor's release list; archives keep their own.
func TestVendorCompressions(t *testing.T) {
	look := func(n string) Vendor { v, _ := Lookup(n); return v }
	for _, c := range []struct {
		vendor, flag, want string
	}{
		{"qemu_uefi", "", "none"},
		{"azure", "", "none"},
		{"generic", "", "none"},
		{"qemu_uefi", "release", "bz2 none"},
		{"azure", "release", "bz2"},
		{"openstack_mini", "release,none", "gz bz2 none"},
		{"azure", "zst,release", "zst bz2"},
		{"gce", "", "none"},
		{"gce", "xz", "none"},
		{"vmware_ova", "release", "none"},
	} {
		override, err := ParseCompressions(c.flag)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range look(c.vendor).compressions(override) {
			got = append(got, string(x))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s --compress %q: %v, want %s", c.vendor, c.flag, got, c.want)
		}
	}
}

func TestBzip2MissingError(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := checkCompressionTools([]Compression{CompressBz2})
	if err == nil || !strings.Contains(err.Error(), "Go has no bzip2 writer") {
		t.Errorf("missing bzip2 error: %v", err)
	}
}

func TestSegments(t *testing.T) {
	c := holeChunk
	exts := []sparse.Extent{{Off: 0, Len: 4096}, {Off: 3*c + 10, Len: 100}}
	got := segments(exts, 5*c+512)
	want := []segment{{0, c, false}, {c, 2 * c, true}, {3 * c, c, false}, {4 * c, c, true}, {5 * c, 512, false}}
	if len(got) != len(want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("segment %d = %v, want %v", i, got[i], want[i])
		}
	}
	if s := segments(nil, c/2); len(s) != 1 || s[0].hole {
		t.Errorf("short file: %v", s)
	}
}
