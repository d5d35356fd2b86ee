package sha256sums_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/internal/testutil"
)

var (
	h1 = strings.Repeat("0f", 32)
	h2 = strings.Repeat("1e", 32)
)

func TestParseRules(t *testing.T) {
	s, err := sha256sums.Parse([]byte("# made by sha256sum\n\n" + strings.ToUpper(h1) + "  a.raw\r\n" + h2 + " *./b c.raw  \n" + h1 + "  sub/dir/k\n" + h1 + "  a.raw\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a.raw": h1, "b c.raw": h2, "./b c.raw": h2, "sub/dir/k": h1} {
		if got, ok := s.Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v", name, got, ok)
		}
	}
	if _, ok := s.Lookup("k"); ok {
		t.Error("Lookup matched a base name")
	}
	if got, ok := s.LookupBase("k"); !ok || got != h1 {
		t.Errorf("LookupBase(k) = %q, %v", got, ok)
	}
	for _, bad := range []string{
		h1[:63] + "  a\n",
		strings.Repeat("g", 64) + "  a\n",
		h1 + "  a\n" + h2 + "  a\n",
		"SHA256 (a) = " + h1 + "\n",
		"\\" + h1 + "  a\\nb\n",
		h1 + "  *\n",
		h1 + " \r0\n", // found by FuzzParse (testdata/fuzz/FuzzParse/name-with-carriage-return)
	} {
		if _, err := sha256sums.Parse([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: error names no line: %v", bad, err)
		}
	}
}

func TestLookupBaseBareAndAmbiguous(t *testing.T) {
	bare, _ := sha256sums.Parse([]byte(h1 + "\n"))
	if got, ok := bare.LookupBase("kubectl"); !ok || got != h1 {
		t.Errorf("bare digest: %q %v", got, ok)
	}
	if _, ok := bare.Lookup("kubectl"); ok {
		t.Error("Lookup returned a bare digest")
	}
	amb, _ := sha256sums.Parse([]byte(h1 + "  amd64/x\n" + h2 + "  arm64/x\n"))
	if _, ok := amb.LookupBase("x"); ok {
		t.Error("ambiguous base name resolved")
	}
	mixed, _ := sha256sums.Parse([]byte(h1 + "\n" + h2 + "  other\n"))
	if _, ok := mixed.LookupBase("x"); ok {
		t.Error("bare digest used although the list names other files")
	}
}

// TestFormatReadBySha256sum judges Format with sha256sum -c and reads
// sha256sum's own output back with Parse.
func TestFormatReadBySha256sum(t *testing.T) {
	testutil.RequireTool(t, "sha256sum")
	dir := t.TempDir()
	for _, n := range []string{"a.raw", "b c.raw"} {
		os.WriteFile(filepath.Join(dir, n), []byte("content of "+n), 0o644)
	}
	cmd := exec.Command("sha256sum", "a.raw", "b c.raw")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sha256sums.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	formatted := sha256sums.Format(s.Map())
	if formatted != string(out) {
		t.Errorf("Format gives %q, sha256sum wrote %q", formatted, out)
	}
	check := exec.Command("sha256sum", "-c", "--strict", "-")
	check.Dir, check.Stdin = dir, bytes.NewReader([]byte(formatted))
	if o, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, o)
	}
}

// FuzzParse feeds checksum lists to Parse: every digest found is 64
// lower-case hex digits present in the input, Format of what was read
// reads back the same, and lookups agree with the map.
func FuzzParse(f *testing.F) {
	f.Add([]byte(h1+"  docker.raw\n"+h2+" *./docker.conf\n# comment\n"), "docker.raw")
	f.Add([]byte(strings.ToUpper(h1)+"  a b.raw\r\n"), "a b.raw")
	f.Add([]byte(h1+"\n"), "kubectl")
	f.Add([]byte(h1+"  amd64/x\n"+h2+"  arm64/x\n"), "x")
	f.Add([]byte(strings.Repeat("g", 64)+"  x.raw\n"), "x.raw")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		s, err := sha256sums.Parse(data)
		if err != nil {
			return
		}
		m := s.Map()
		for n, d := range m {
			if n == "" || strings.ContainsAny(n, "\n\r") || strings.HasPrefix(n, "./") {
				t.Fatalf("name %q accepted", n)
			}
			if len(d) != 64 || strings.ToLower(d) != d || !bytes.Contains(bytes.ToLower(data), []byte(d)) {
				t.Fatalf("digest %q for %q", d, n)
			}
			if got, ok := s.Lookup(n); !ok || got != d {
				t.Fatalf("Lookup(%q) = %q, map has %q", n, got, d)
			}
		}
		back, err := sha256sums.Parse([]byte(sha256sums.Format(m)))
		if err != nil {
			t.Fatalf("Format output does not parse: %v", err)
		}
		bm := back.Map()
		if len(bm) != len(m) {
			t.Fatalf("Format round trip: %d entries, was %d", len(bm), len(m))
		}
		for n, d := range m {
			if bm[n] != d {
				t.Fatalf("Format round trip: %q = %q, was %q", n, bm[n], d)
			}
		}
		if d, ok := s.LookupBase(name); ok && !bytes.Contains(bytes.ToLower(data), []byte(d)) {
			t.Fatalf("LookupBase(%q) = %q, not in the input", name, d)
		}
	})
}

// TestFormatNameStartingWithStar (found by FuzzParse): a name that starts
// with "*" is written with binary mode's marker, so reading it back keeps
// the name's own "*".
func TestFormatNameStartingWithStar(t *testing.T) {
	m := map[string]string{"*": h1, "*x.raw": h2}
	s, err := sha256sums.Parse([]byte(sha256sums.Format(m)))
	if err != nil {
		t.Fatal(err)
	}
	for n, d := range m {
		if got, ok := s.Lookup(n); !ok || got != d {
			t.Errorf("Lookup(%q) = %q, %v", n, got, ok)
		}
	}
}

// TestFileMatchesSha256sum: File agrees with coreutils' sha256sum, and a
// missing file is an error naming it.
func TestFileMatchesSha256sum(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte("bake-os "), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sha256sum", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := sha256sums.File(p)
	if err != nil || got != strings.Fields(string(out))[0] {
		t.Errorf("File = %q %v, sha256sum says %s", got, err, out)
	}
	if _, err := sha256sums.File(p + ".missing"); err == nil || !strings.Contains(err.Error(), "f.missing") {
		t.Errorf("missing file: %v", err)
	}
}
