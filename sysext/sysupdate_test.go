package sysext_test

import (
	"path"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/sysext"
)

func TestParseSysupdateConf(t *testing.T) {
	c, err := sysext.ParseSysupdateConf(strings.NewReader(`# wasmtime
[Transfer]
Verify=false
MatchPattern=ignored-@v.raw

[Source]
Type=url-file
MatchPattern=wasmtime-@v-%a.raw other-@v.raw

[Target]
Type=regular-file
Path=/opt/extensions/wasmtime/
MatchPattern=wasmtime-@v-%a.raw
CurrentSymlink=/etc/extensions/wasmtime.raw
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "/opt/extensions/wasmtime" || c.CurrentSymlink != "/etc/extensions/wasmtime.raw" ||
		strings.Join(c.SourcePatterns, " ") != "wasmtime-@v-%a.raw other-@v.raw" || strings.Join(c.TargetPatterns, " ") != "wasmtime-@v-%a.raw" {
		t.Errorf("%+v", c)
	}
	for body, want := range map[string]string{
		"[Target]\nPath=rel\n":                             "not absolute",
		"[Target]\nPath=/a/../b\n":                         "'..'",
		"[Target]\nType=partition\n":                       "Type=partition",
		"[Target]\nCurrentSymlink=/etc/passwd\n":           "not in a directory systemd-sysext reads",
		"[Target]\nCurrentSymlink=/run/extensions/x.raw\n": "/run is a tmpfs",
		"[Target\n":                 "bad section header",
		"junk\n":                    "want KEY=VALUE",
		strings.Repeat("#", 70<<10): "larger than",
	} {
		if _, err := sysext.ParseSysupdateConf(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", body, err, want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"wasmtime-@v-%a.raw", "wasmtime-24.0.0-x86-64.raw", true},
		{"wasmtime-@v-%a.raw", "wasmtime-24.0.0-arm64.raw", false},
		{"wasmtime-@v-%a.raw", "wasmtime.raw", false},
		{"wasmtime-@v.raw", "wasmtime-24.0.0-x86-64.raw", true}, // @v takes "-"
		{"kubernetes-v@v-%a.raw", "kubernetes-v1.30.4-x86-64.raw", true},
		{"x_@v_@u.raw", "x_1_0f2e-aa.raw", true},
		{"x@@@v.raw", "x@1.raw", true},
		{"x-@a.raw", "x-1.raw", true},
		{"x-@a.raw", "x-10.raw", false},
		{"x-@h.raw", "x-" + strings.Repeat("ab", 32) + ".raw", true},
		{"x-@h.raw", "x-abc.raw", false},
		{"x-@v.raw", "x-.raw", false},
		{"x-@v.raw", "x-1 2.raw", false},
		{"100%%-@v.raw", "100%-1.raw", true},
		{"%w-@v.raw", "anything-1.raw", true}, // unknown specifiers match anything
	} {
		got, err := sysext.MatchPattern(c.pattern, c.name, "x86-64")
		if err != nil || got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v %v, want %v", c.pattern, c.name, got, err, c.want)
		}
	}
	if _, err := sysext.MatchPattern("x-@z.raw", "x", "x86-64"); err == nil {
		t.Error("@z accepted")
	}
	if ok, _ := sysext.PatternsMatch([]string{"sub/dir/a-@v.raw"}, "a-1.raw", "x86-64"); !ok {
		t.Error("pattern with a directory does not match its file name")
	}
	// Many adjacent wildcards against a long non-match stay fast.
	if ok, _ := sysext.MatchPattern(strings.Repeat("@v", 40)+"!", strings.Repeat("1", 250), "x86-64"); ok {
		t.Error("matched")
	}
}

// FuzzParseSysupdateConf: any input parses or is refused, and an accepted
// conf has a clean absolute Path without ".." and a CurrentSymlink that is
// NAME.raw directly in a persistent directory systemd-sysext reads.
func FuzzParseSysupdateConf(f *testing.F) {
	f.Add("[Target]\nType=regular-file\nPath=/opt/extensions/x\nCurrentSymlink=/etc/extensions/x.raw\nMatchPattern=x-@v-%a.raw\n")
	f.Add("[Source]\nMatchPattern=a-@v.raw b-@v.raw\nMatchPattern=\n[Target]\nPath=/oem//sysext/./\n")
	f.Add("[Target]\nCurrentSymlink=/var/lib/extensions/a.raw\nPathRelativeTo=esp\nPath=/x\n")
	f.Add("[Target]\nCurrentSymlink=/etc/extensions/../passwd\n")
	f.Add(sysext.NoopConf)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := sysext.ParseSysupdateConf(strings.NewReader(s))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one line: %q", err)
			}
			return
		}
		if c.Path != "" && (!path.IsAbs(c.Path) || path.Clean(c.Path) != c.Path || hasDotDot(c.Path)) {
			t.Fatalf("accepted Path %q", c.Path)
		}
		if l := c.CurrentSymlink; l != "" {
			if path.Clean(l) != l || !strings.HasSuffix(l, ".raw") || path.Base(l) == ".raw" || hasDotDot(l) ||
				(path.Dir(l) != "/etc/extensions" && path.Dir(l) != "/var/lib/extensions") {
				t.Fatalf("accepted CurrentSymlink %q", l)
			}
		}
		if c.TargetType != "" && c.TargetType != "regular-file" {
			t.Fatalf("accepted Type %q", c.TargetType)
		}
	})
}

// FuzzMatchPattern: matching never panics and agrees with the pattern it
// was given on the names the pattern describes.
func FuzzMatchPattern(f *testing.F) {
	f.Add("wasmtime-@v-%a.raw", "wasmtime-24.0.0-x86-64.raw")
	f.Add("x@@@h@a@u.raw", "x@1.raw")
	f.Add("%%@t@s@d@l@m@f@r@g", "%1")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		ok, err := sysext.MatchPattern(pattern, name, "x86-64")
		if err != nil && ok {
			t.Fatal("error and match")
		}
		if err == nil && !strings.ContainsAny(pattern, "@%") && ok != (pattern == name) {
			t.Fatalf("literal pattern %q vs %q: %v", pattern, name, ok)
		}
		// A pattern without wildcards but with "@@" matches its unescaped self.
		if err == nil && !strings.Contains(strings.ReplaceAll(pattern, "@@", ""), "@") && !strings.Contains(pattern, "%") {
			if m, _ := sysext.MatchPattern(pattern, strings.ReplaceAll(pattern, "@@", "@"), "x86-64"); !m {
				t.Fatalf("%q does not match its literal text", pattern)
			}
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
