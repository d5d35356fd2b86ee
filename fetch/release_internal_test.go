package fetch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/verify"
)

// testdata/releases.json is a real snapshot of Flatcar's releases index
// (release notes dropped); see testdata/README.md.
func TestLatestInRealIndex(t *testing.T) {
	data, err := os.ReadFile("testdata/releases.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		for ch, want := range map[string]string{
			"stable": "4593.2.5", "beta": "4757.1.0", "alpha": "4790.0.0", "lts": "4081.3.10",
		} {
			got, err := latestInIndex(data, ch, arch)
			if err != nil || got != want {
				t.Errorf("%s %s: got %q, %v; want %s", arch, ch, got, err, want)
			}
		}
	}
	// "current-2021" ... are lts keys but not versions; a string compare
	// would also pick 4081.3.9 over 4081.3.10.
	if !strings.Contains(string(data), `"current-2021"`) {
		t.Fatal("snapshot lost its current-2021 key")
	}
	// Architectures filter; a higher amd64-only version is skipped for arm64.
	idx := []byte(`{"9.2.0":{"channel":"stable","architectures":["amd64"]},"8.2.1":{"channel":"stable","architectures":["amd64","arm64"]},"10.2.0":{"channel":"beta"}}`)
	if got, _ := latestInIndex(idx, "stable", flatcar.ArchARM64); got != "8.2.1" {
		t.Errorf("arm64 stable = %q, want 8.2.1", got)
	}
	if got, _ := latestInIndex(idx, "stable", flatcar.ArchX86_64); got != "9.2.0" {
		t.Errorf("x86-64 stable = %q, want 9.2.0", got)
	}
	if _, err := latestInIndex(idx, "alpha", flatcar.ArchX86_64); err == nil {
		t.Error("alpha found in an index without alpha")
	}
	if _, err := latestInIndex([]byte("<html>"), "stable", flatcar.ArchX86_64); err == nil {
		t.Error("non-JSON index accepted")
	}
}

func TestResolveVersionAndTemplate(t *testing.T) {
	f, err := newFetcher(Options{Release: "4081.3.10", Arch: "arm64", ReleaseURLTemplate: "https://{channel}.example/", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := f.resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := ReleaseRef{Version: "4081.3.10", Channel: "lts", Board: "arm64-usr", BaseURL: "https://lts.example/arm64-usr/4081.3.10"}
	if ref != want {
		t.Fatalf("ref = %+v, want %+v", ref, want)
	}
	for _, bad := range []string{"4593.2", "4593.2.5.1", "v4593.2.5", "edge", "current-2021"} {
		f.o.Release = bad
		if _, err := f.resolve(t.Context()); err == nil {
			t.Errorf("release %q accepted", bad)
		}
	}
}

func TestDigestsSHA512(t *testing.T) {
	d := []byte("# MD5 HASH\nd41d8cd98f00b204e9800998ecf8427e  f.bin\n# SHA1 HASH\nda39a3ee5e6b4b0d3255bfef95601890afd80709  f.bin\n" +
		"# SHA512 HASH\n" + strings.Repeat("ab", 64) + "  f.bin\n" + strings.Repeat("cd", 64) + "  g.bin\n")
	if got, err := digestsSHA512(d, "f.bin"); err != nil || got != strings.Repeat("ab", 64) {
		t.Errorf("f.bin: %q %v", got, err)
	}
	if got, err := digestsSHA512(d, "g.bin"); err != nil || got != strings.Repeat("cd", 64) {
		t.Errorf("g.bin: %q %v", got, err)
	}
	if _, err := digestsSHA512(d, "h.bin"); err == nil {
		t.Error("h.bin found")
	}
	// MD5/SHA1 lines must not be taken for SHA512.
	if _, err := digestsSHA512([]byte("# SHA1 HASH\nda39a3ee5e6b4b0d3255bfef95601890afd80709  f.bin\n"), "f.bin"); err == nil {
		t.Error("SHA1 line taken for SHA512")
	}
}

func TestSumFor(t *testing.T) {
	h := strings.Repeat("0f", 32)
	sums := []byte(h + "  a.raw\n" + strings.Repeat("1e", 32) + " *./b.raw\n")
	if got, ok, err := sumFor(sums, "a.raw"); !ok || got != h || err != nil {
		t.Error("a.raw")
	}
	if _, ok, _ := sumFor(sums, "b.raw"); !ok {
		t.Error("b.raw")
	}
	if _, ok, _ := sumFor(sums, "c.raw"); ok {
		t.Error("c.raw")
	}
	// A list that cannot be read completely is not trusted partly.
	if _, _, err := sumFor(append(sums, "not a line\n"...), "a.raw"); !errors.Is(err, verify.ErrFailed) {
		t.Errorf("malformed SHA256SUMS: %v", err)
	}
}

func TestCachePath(t *testing.T) {
	got, err := cachePath("/c", "http://127.0.0.1:8080/stable/amd64-usr/1.2.3/version.txt")
	if err != nil || got != filepath.FromSlash("/c/files/127.0.0.1_8080/stable/amd64-usr/1.2.3/version.txt") {
		t.Errorf("got %q %v", got, err)
	}
	for _, bad := range []string{"http://h/a/../../x", "http://h/", "http://h"} {
		if p, err := cachePath("/c", bad); err == nil {
			t.Errorf("%s -> %s accepted", bad, p)
		}
	}
}
