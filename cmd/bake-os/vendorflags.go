package main

import (
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/vendors"
)

// vendorOptions are the vendor image flags of the root command.
type vendorOptions struct {
	vendors        vendors.ListValue
	compress       vendors.CompressValue
	oemSysextDir   string
	firmwareDir    string
	flatcarVersion string
}

func (o *vendorOptions) AddFlags(fs *pflag.FlagSet) {
	fs.Var(&o.vendors, "vendor", "vendor images (comma-separated, repeatable; see VENDORS)")
	fs.Var(&o.compress, "compress", vendors.CompressHelp())
	fs.StringVar(&o.oemSysextDir, "oem-sysext-dir", "", "directory with oem-ID.raw (default: --image's)")
	fs.StringVar(&o.firmwareDir, "firmware-dir", "", "qemu_uefi UEFI firmware (default: release's, OVMF)")
	fs.StringVar(&o.flatcarVersion, "flatcar-version", "", "OEM sysext version (default: version.txt)")
}

func (o *vendorOptions) options(d *deps) vendors.BuildOptions {
	return vendors.BuildOptions{
		OEMSysextDir: absPath(d.cwd, o.oemSysextDir), FirmwareDir: absPath(d.cwd, o.firmwareDir),
		FlatcarVersion: o.flatcarVersion, Compress: string(o.compress),
		Logger: d.logger(),
	}
}
