package fetch

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

func isLowerHex(s string, n int) bool {
	if len(s) != n || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// FuzzReleasesIndex feeds releases.json documents to latestInIndex.
// Whatever version it picks is a strict MAJOR.MINOR.PATCH key of the
// document, of the asked channel, listing the asked architecture (or
// none), and no other such key is higher.
func FuzzReleasesIndex(f *testing.F) {
	real, err := os.ReadFile("testdata/releases.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real, "stable", false)
	f.Add(real, "lts", true)
	f.Add([]byte(`{"4593.2.5":{"channel":"stable","architectures":["amd64"]},"4593.2.10":{"channel":"stable"},"current-2021":{"channel":"stable"}}`), "stable", false)
	f.Add([]byte(`{"1.2.3":{"channel":"beta","architectures":["arm64"]},"01.2.3":{"channel":"beta"}}`), "beta", true)
	f.Add([]byte(`{"9.9.9":null,"9.9.8":{"channel":"alpha","architectures":null}}`), "alpha", false)
	f.Add([]byte(`[]`), "stable", false)
	f.Fuzz(func(t *testing.T, data []byte, channel string, arm bool) {
		arch := flatcar.ArchX86_64
		if arm {
			arch = flatcar.ArchARM64
		}
		got, err := latestInIndex(data, channel, arch)
		if err != nil {
			return
		}
		v, perr := flatcar.ParseVersion(got)
		if perr != nil || v.String() != got {
			t.Fatalf("picked %q, not a strict version (%v)", got, perr)
		}
		var idx map[string]struct {
			Channel       string   `json:"channel"`
			Architectures []string `json:"architectures"`
		}
		if err := json.Unmarshal(data, &idx); err != nil {
			t.Fatalf("picked %q from a document that does not parse: %v", got, err)
		}
		e, ok := idx[got]
		if !ok || e.Channel != channel || len(e.Architectures) > 0 && !slices.Contains(e.Architectures, arch.GoArch()) {
			t.Fatalf("picked %q: entry %+v (present %v) for channel %q arch %s", got, e, ok, channel, arch)
		}
		for k, o := range idx {
			ov, err := flatcar.ParseVersion(k)
			if err != nil || ov.String() != k || o.Channel != channel || len(o.Architectures) > 0 && !slices.Contains(o.Architectures, arch.GoArch()) {
				continue
			}
			if v.Less(ov) {
				t.Fatalf("picked %s but %s is higher", got, k)
			}
		}
	})
}

// FuzzDigests feeds .DIGESTS files to digestsSHA512: a digest it returns
// is 128 lower-case hex digits that the file lists for that name.
func FuzzDigests(f *testing.F) {
	sha512 := strings.Repeat("ab", 64)
	f.Add([]byte("# MD5 HASH\nd41d8cd98f00b204e9800998ecf8427e  f.bin\n# SHA1 HASH\nda39a3ee5e6b4b0d3255bfef95601890afd80709  f.bin\n# SHA512 HASH\n"+sha512+"  f.bin\n"), "f.bin")
	f.Add([]byte("# sha512 hash\n"+strings.ToUpper(sha512)+" *f.bin\r\n"), "f.bin")
	f.Add([]byte("# SHA512 HASH\n"+strings.Repeat("zz", 64)+"  f.bin\n"), "f.bin")
	f.Add([]byte("# SHA1 HASH\n"+sha512+"  f.bin\n"), "f.bin")
	f.Fuzz(func(t *testing.T, digests []byte, name string) {
		got, err := digestsSHA512(digests, name)
		if err != nil {
			return
		}
		if !isLowerHex(got, 128) {
			t.Fatalf("returned %q, not a SHA512", got)
		}
		if !bytes.Contains(bytes.ToLower(digests), []byte(got)) || !bytes.Contains(digests, []byte(name)) {
			t.Fatalf("returned %q for %q, which the file does not list", got, name)
		}
	})
}

// TestReleasesIndexLeadingZeroKey (found by FuzzReleasesIndex): a key with
// a leading zero is not a strict version; it must not be picked as the
// version it would normalise to, which the index does not name.
func TestReleasesIndexLeadingZeroKey(t *testing.T) {
	if v, err := latestInIndex([]byte(`{"00.0.0":{"channel":"beta"}}`), "beta", flatcar.ArchARM64); err == nil {
		t.Errorf("picked %q from an index without a strict version", v)
	}
	v, err := latestInIndex([]byte(`{"04593.2.9":{"channel":"stable"},"4593.2.5":{"channel":"stable"}}`), "stable", flatcar.ArchX86_64)
	if err != nil || v != "4593.2.5" {
		t.Errorf("picked %q, %v; want 4593.2.5", v, err)
	}
}
