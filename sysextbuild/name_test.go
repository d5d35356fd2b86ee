package sysextbuild_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-os/bake-os/sysext"
	"github.com/bake-os/bake-os/sysextbuild"
)

// TestPackUsesBakeNameRule: pack refuses exactly the names bake refuses
// (sysext.ValidName), e.g. "my+ext", which pack used to accept.
func TestPackUsesBakeNameRule(t *testing.T) {
	tree := makeTree(t, time.Unix(0, 0))
	for _, name := range []string{"my+ext", "a@b", "-x", ".hidden", "a..b"} {
		if sysext.ValidName(name) == nil {
			t.Fatalf("%q is a valid name", name)
		}
		_, err := sysextbuild.Pack(context.Background(), sysextbuild.PackOptions{Dir: tree, Name: name, Output: filepath.Join(t.TempDir(), "x.raw")})
		if err == nil || !strings.Contains(err.Error(), "invalid sysext name") {
			t.Errorf("pack --name %q: %v", name, err)
		}
	}
}
