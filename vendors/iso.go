package vendors

import (
	"context"
	"os"
	"path/filepath"
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
	c.tools = append(c.tools, "xorriso", "grub-mkimage", "mkfs.vfat", "mmd", "mcopy")
	if _, err := findIsolinux(); err != nil {
		return err
	}
	return checkGrubEFI()
}

func (isoBundle) Build(ctx context.Context, c *bundleContext) error {
	kernel, initrd, err := c.live(ctx)
	if err != nil {
		return err
	}
	p, err := c.create(roleMain)
	if err != nil {
		return err
	}
	os.Remove(p) // xorriso wants to create it
	o := c.options()
	work := filepath.Join(c.workDir(), "iso-"+c.vendor().Name)
	ignInitrd := ""
	if o.Ignition != nil {
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		ignInitrd = filepath.Join(work, "ignition.cpio.gz")
		if err := writeIgnitionInitrdFile(ctx, ignInitrd, o.Ignition); err != nil {
			return err
		}
	}
	return writeISO(ctx, p, kernel, initrd, ignInitrd, o.KernelArgs, work)
}
