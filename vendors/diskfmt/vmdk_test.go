package diskfmt_test

import (
	"testing"

	"github.com/bake-os/bake-os/vendors/diskfmt"
	"github.com/bake-os/bake-os/vendors/diskfmt/conformtest"
)

func TestVMDKSparseIDE(t *testing.T) {
	conformtest.Run(t, diskfmt.VMDKSparse{}, diskfmt.Options{Adapter: "ide"})
}

func TestVMDKSparseLSILogic(t *testing.T) {
	conformtest.Run(t, diskfmt.VMDKSparse{}, diskfmt.Options{Adapter: "lsilogic"})
}

func TestVMDKStream(t *testing.T) {
	conformtest.Run(t, diskfmt.VMDKStream{}, diskfmt.Options{Adapter: "lsilogic"})
}
