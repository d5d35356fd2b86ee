package bake_test

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/sysext"
)

// FuzzParseSysextArgs: NUL-separated NAME:FILE arguments are refused or
// give one Sysext each with a valid, unique name, a clean absolute FILE
// and a conf that exists and is NAME.conf.
func FuzzParseSysextArgs(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "a.conf"), []byte("[Target]\n"), 0o644)
	f.Add("a:sub/a-1.raw\x00b:/abs/b.raw")
	f.Add("wasmtime:wasmtime-24.0.0-x86-64.raw")
	f.Add("a:../../x.raw\x00a:y")
	f.Add("..:x\x00a/b:c\x00:x\x00noname\x00my+ext:x.raw")
	f.Add("a:/x/..\x00b:.")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		got, err := bake.ParseSysextArgs(args, dir)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one line: %q", err)
			}
			return
		}
		if len(got) != len(args) {
			t.Fatalf("%d args, %d sysexts", len(args), len(got))
		}
		seen := map[string]bool{}
		for _, s := range got {
			if err := sysext.ValidName(s.Name); err != nil || seen[s.Name] {
				t.Fatalf("accepted name %q (duplicate: %v)", s.Name, seen[s.Name])
			}
			seen[s.Name] = true
			if !filepath.IsAbs(s.File) || filepath.Clean(s.File) != s.File {
				t.Fatalf("file %q is not clean and absolute", s.File)
			}
			if s.Conf != "" && (filepath.Base(s.Conf) != s.Name+".conf" || s.ConfFrom == "") {
				t.Fatalf("conf %q (%q) for %s", s.Conf, s.ConfFrom, s.Name)
			}
		}
	})
}

// FuzzParseTarget: an accepted --install_to is root or oem with a clean
// absolute directory without "..", control characters or quotes, outside
// ROOT's /usr and /boot, and survives a round trip through String.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"root:/opt/extensions/", "oem:/sysext", "OEM:/a/b/", "root:/a/../b", "root:rel",
		"usr:/x", "root", "root:/", "root://x//y/./", "root:/usr/lib/extensions", "oem:/usr", "root:/a\"b", "root:/a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := bake.ParseTarget(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("error not one line: %q", err)
			}
			return
		}
		if tg.Part != bake.PartROOT && tg.Part != bake.PartOEM {
			t.Fatalf("part %q", tg.Part)
		}
		d := tg.Dir
		if !path.IsAbs(d) || path.Clean(d) != d || hasDotDot(d) || strings.ContainsAny(d, "\"\\\x00\n\r\t") {
			t.Fatalf("dir %q", d)
		}
		for _, h := range []string{"/usr", "/boot", "/oem", "/run", "/tmp", "/proc", "/sys", "/dev"} {
			if tg.Part == bake.PartROOT && (d == h || strings.HasPrefix(d, h+"/")) {
				t.Fatalf("ROOT dir %q is hidden at runtime", d)
			}
		}
		again, err := bake.ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("round trip %q -> %q -> %+v %v", s, tg.String(), again, err)
		}
	})
}

func hasDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}
