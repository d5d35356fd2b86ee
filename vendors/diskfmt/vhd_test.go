package diskfmt_test

import (
	"testing"

	"github.com/bake-os/bake-os/vendors/diskfmt"
	"github.com/bake-os/bake-os/vendors/diskfmt/conformtest"
)

func TestVHDFixed(t *testing.T) { conformtest.Run(t, diskfmt.VHDFixed{}, diskfmt.Options{}) }

// The size is rounded up to a whole MiB.
func TestVHDFixedRounded(t *testing.T) {
	conformtest.Run(t, diskfmt.VHDFixed{}, diskfmt.Options{VirtualSize: conformtest.SourceSize + 512})
}

func TestVHDDynamic(t *testing.T) { conformtest.Run(t, diskfmt.VHDDynamic{}, diskfmt.Options{}) }
