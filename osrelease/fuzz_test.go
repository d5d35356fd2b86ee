package osrelease_test

import (
	"strings"
	"testing"

	"github.com/bake-os/bake-os/osrelease"
)

// FuzzParse feeds os-release / extension-release text to Parse. Whatever
// it accepts has valid key names, and renders (String) to text that
// parses back to the same fields in the same order.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n",
		"# comment\nID='flatcar'\nNAME=\"Flatcar \\\"Container\\\" Linux\"\nESC=a\\ b\nEMPTY=\nX=y # trailing\n",
		"ID=_any\r\nVERSION_ID=\"4593.2.5\"\r\n",
		"SYSEXT_ID=oem-qemu\nSYSEXT_SCOPE=\"initrd system\"\n",
		"A='unterminated\n",
		"A=\"x\\$y\\`z\"\n",
		"=x\n",
		"1A=x\n",
		"A=b c\n",
		"A=\"'\"'\"'\n",
		"A=\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := osrelease.ParseString(in)
		if err != nil {
			if r != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		keys := r.Keys()
		seen := map[string]bool{}
		for _, k := range keys {
			if k == "" || seen[k] || strings.ContainsAny(k, "= \t\n#'\"\\") || k[0] >= '0' && k[0] <= '9' {
				t.Fatalf("accepted key %q (keys %q)", k, keys)
			}
			seen[k] = true
			if _, ok := r.Lookup(k); !ok {
				t.Fatalf("key %q listed but not set", k)
			}
		}
		if len(r.Map()) != len(keys) {
			t.Fatalf("%d keys, %d fields", len(keys), len(r.Map()))
		}
		out := r.String()
		back, err := osrelease.ParseString(out)
		if err != nil {
			t.Fatalf("rendering of %q does not parse: %v\n%s", in, err, out)
		}
		if strings.Join(back.Keys(), ",") != strings.Join(keys, ",") {
			t.Fatalf("keys %q render and parse back as %q", keys, back.Keys())
		}
		for _, k := range keys {
			if back.Get(k) != r.Get(k) {
				t.Fatalf("%s=%q renders as %q and parses back as %q", k, r.Get(k), out, back.Get(k))
			}
		}
	})
}

// FuzzQuote checks that any one-line value survives Quote and Parse.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "flatcar", "a b", `Flatcar "Container" $HOME \ ` + "`x`", "'", "#x", " lead", "x="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\n\r") {
			return // os-release values are one line of text
		}
		r, err := osrelease.ParseString("K=" + osrelease.Quote(v) + "\n")
		if err != nil {
			t.Fatalf("Quote(%q) = %q does not parse: %v", v, osrelease.Quote(v), err)
		}
		if r.Get("K") != v {
			t.Fatalf("Quote(%q) = %q parses as %q", v, osrelease.Quote(v), r.Get("K"))
		}
	})
}

// TestQuoteInvalidUTF8 is the crash FuzzParse found: Quote walked runes
// and turned a stray byte (\xb4) into U+FFFD, so a value did not survive
// rendering.
func TestQuoteInvalidUTF8(t *testing.T) {
	r, err := osrelease.ParseString("A=" + osrelease.Quote("x\xb4y") + "\n")
	if err != nil || r.Get("A") != "x\xb4y" {
		t.Fatalf("got %q, %v", r.Get("A"), err)
	}
}

// FuzzVersionTxt feeds version.txt files to ParseVersionTxt: an accepted
// file has a FLATCAR_VERSION, and every field is the parsed value.
func FuzzVersionTxt(f *testing.F) {
	f.Add([]byte("FLATCAR_BUILD=4593\nFLATCAR_BRANCH=2\nFLATCAR_PATCH=5\nFLATCAR_VERSION=4593.2.5\nFLATCAR_VERSION_ID=4593.2.5\nFLATCAR_BUILD_ID=\"\"\nFLATCAR_SDK_VERSION=4593.0.0\n"))
	f.Add([]byte("FLATCAR_VERSION='1.2.3+x'\n"))
	f.Add([]byte("FLATCAR_VERSION=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := osrelease.ParseVersionTxt(data)
		if err != nil {
			return
		}
		if v.Version == "" || v.Fields.Get("FLATCAR_VERSION") != v.Version || v.Fields.Get("FLATCAR_SDK_VERSION") != v.SDKVersion {
			t.Fatalf("accepted %+v", v)
		}
	})
}
