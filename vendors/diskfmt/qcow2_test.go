package diskfmt_test

import (
	"testing"

	"github.com/bake-os/bake-os/vendors/diskfmt"
	"github.com/bake-os/bake-os/vendors/diskfmt/conformtest"
)

func TestQcow2(t *testing.T) { conformtest.Run(t, diskfmt.Qcow2{}, diskfmt.Options{}) }

// Exoscale forces a 10 GiB disk; here: a virtual size above the source's.
func TestQcow2Larger(t *testing.T) {
	conformtest.Run(t, diskfmt.Qcow2{}, diskfmt.Options{VirtualSize: conformtest.SourceSize + 64<<20, Workers: 1, Level: 1})
}
