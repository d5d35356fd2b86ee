package diskfmt_test

import (
	"strings"
	"testing"

	"github.com/bake-os/bake-os/vendors/diskfmt"
)

// The registry is an explicit list: a duplicate name is a bug.
func TestAllUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range diskfmt.All() {
		if seen[f.Name()] {
			panic("diskfmt.All lists format " + f.Name() + " twice")
		}
		seen[f.Name()] = true
		if f.Ext() == "" || f.Description() == "" {
			t.Errorf("format %s lacks an extension or description", f.Name())
		}
		g, err := diskfmt.Lookup(f.Name())
		if err != nil || g.Name() != f.Name() {
			t.Errorf("Lookup(%q) = %v, %v", f.Name(), g, err)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := diskfmt.Lookup("vdi")
	if err == nil || !strings.Contains(err.Error(), "qcow2") || !strings.Contains(err.Error(), `"vdi"`) {
		t.Errorf("Lookup(vdi) error = %v, want one naming it and listing the valid formats", err)
	}
}
