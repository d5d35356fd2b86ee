package osrelease_test

import (
	"testing"

	"github.com/bake-os/bake-os/osrelease"
)

func TestParseQuoting(t *testing.T) {
	in := `# comment
ID='flatcar'
VERSION_ID="4593.2.5"
NAME="Flatcar \"Container\" Linux"
SYSEXT_HOME_URL='https://x/$y'
ESC=a\ b
EMPTY=
ARCHITECTURE=x86-64 # trailing
`
	r, err := osrelease.ParseString(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ID": "flatcar", "VERSION_ID": "4593.2.5", "NAME": `Flatcar "Container" Linux`,
		"SYSEXT_HOME_URL": "https://x/$y", "ESC": "a b", "EMPTY": "", "ARCHITECTURE": "x86-64",
	}
	for k, v := range want {
		if got, ok := r.Lookup(k); !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if got := r.Keys(); got[0] != "ID" || len(got) != len(want) {
		t.Errorf("keys %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"ID='x", `ID="x`, "NOEQUALS", "1X=a", "ID=a b"} {
		if _, err := osrelease.ParseString(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := osrelease.New(map[string]string{"A": `we"ird $x`, "B": "plain", "C": "two words"})
	back, err := osrelease.ParseString(r.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"A", "B", "C"} {
		if back.Get(k) != r.Get(k) {
			t.Errorf("%s: %q != %q", k, back.Get(k), r.Get(k))
		}
	}
}
