package vendors

import (
	"context"
	"fmt"
	"os"

	"github.com/bake-os/bake-os/internal/runlog"
)

// pxeBundle writes the live kernel and /usr initrd for network boot, and
// the Ignition initrd when the build carries a config.
type pxeBundle struct{}

func (pxeBundle) Name() string { return "pxe" }

func (pxeBundle) Files() []bundleFile {
	return []bundleFile{{Role: roleMain, Kind: "initrd"}, {Role: "kernel", Kind: "kernel"},
		{Role: "ignition", Kind: "initrd", IgnitionOnly: true}}
}

// Check asks for the tools of the /usr initrd.
func (pxeBundle) Check(ctx context.Context, c *checkContext) error {
	c.tools = append(c.tools, liveTools...)
	return nil
}

func (pxeBundle) Build(ctx context.Context, c *bundleContext) error {
	kernel, initrd, err := c.live(ctx)
	if err != nil {
		return err
	}
	for _, f := range []struct{ src, role string }{{initrd, roleMain}, {kernel, "kernel"}} {
		p, err := c.create(f.role)
		if err != nil {
			return err
		}
		if err := copyPlain(f.src, p); err != nil {
			return err
		}
	}
	o := c.options()
	ign := o.Ignition != nil
	if ign {
		if err := c.writeTo("ignition", func(f *os.File) error {
			return writeIgnitionInitrd(ctx, f, o.Ignition)
		}); err != nil {
			return err
		}
	}
	line := pxeCommandLine(c.name(roleMain), c.name("ignition"), ign, o.KernelArgs)
	c.setCmdline("kernel", line)
	if ign || len(o.KernelArgs) > 0 {
		runlog.From(ctx).Info(fmt.Sprintf("pxe: boot %s with the kernel command line: %s", c.name("kernel"), line))
	}
	return nil
}
