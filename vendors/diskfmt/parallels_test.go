package diskfmt_test

import (
	"testing"

	"github.com/bake-os/bake-os/vendors/diskfmt"
	"github.com/bake-os/bake-os/vendors/diskfmt/conformtest"
)

func TestParallels(t *testing.T) { conformtest.Run(t, diskfmt.Parallels{}, diskfmt.Options{}) }
