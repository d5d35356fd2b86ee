package vendors

import (
	"context"
	"os"
)

// isoBundle writes the live ISO (BIOS and UEFI, isohybrid) holding the
// kernel, the /usr initrd and, when the build carries a config, the
// Ignition initrd.
type isoBundle struct{}

func (isoBundle) Name() string { return "iso" }

func (isoBundle) Files() []bundleFile {
	return []bundleFile{{Role: roleMain, Kind: "iso", Compress: true}}
}

// Check asks for the tools and finds the boot loaders (ISOLINUX, GRUB
// for UEFI).
func (isoBundle) Check(ctx context.Context, c *checkContext) error {
	c.tools = append(c.tools, liveTools...)
	c.tools = append(c.tools, "xorriso")
	c.tools = append(c.tools, grubESPTools...)
	if _, err := findIsolinux(); err != nil {
		return err
	}
	return checkGrubEFI()
}

func (isoBundle) Build(ctx context.Context, c *bundleContext) error {
	m, err := c.liveMedium(ctx)
	if err != nil {
		return err
	}
	os.Remove(m.out) // xorriso wants to create it
	return writeISO(ctx, m.out, m.kernel, m.initrd, m.ignition, c.options().KernelArgs, m.work)
}
