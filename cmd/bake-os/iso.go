package main

import (
	"github.com/spf13/cobra"

	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/vendors"
)

func newISOCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iso",
		Short: "Work on live ISOs (customize)",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newISOCustomizeCmd(d))
	return cmd
}

type isoCustomizeOptions struct {
	ignition   string
	kernelArgs []string
	output     string
	force      bool
}

func newISOCustomizeCmd(d *deps) *cobra.Command {
	o := &isoCustomizeOptions{}
	cmd := &cobra.Command{
		Use:   "customize ISO --ignition FILE [--kernel-arg ARG]... -o OUT",
		Short: "Embed an Ignition config and kernel arguments in a live ISO",
		Long: `customize writes OUT, a copy of a Flatcar live ISO (the release's
flatcar_production_iso_image.iso, or one bake-os --vendor iso wrote) that
boots with an Ignition config and extra kernel arguments, like
coreos-installer's "iso customize". The config is validated, then carried
in /flatcar/ignition.cpio.gz, an extra initrd holding
usr/share/oem/config.ign, where Flatcar's initrd reads a config on boots
without an OEM partition. The ISOLINUX menu (BIOS) and, when present, the
GRUB menu (UEFI) load it and pass flatcar.first_boot=1 and each
--kernel-arg; the ISO's boot images and hybrid MBR/GPT are kept. ISO is
only read; OUT appears whole or not at all.` + exitStatusHelp,
		Example: `  bake-os iso customize flatcar_production_iso_image.iso \
    --ignition config.ign -o live.iso
  bake-os iso customize live.iso --kernel-arg console=ttyS0,115200n8 \
    -o serial.iso`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output == "" {
				return usagef("iso customize needs -o OUT")
			}
			if o.ignition == "" && len(o.kernelArgs) == 0 {
				return usagef("iso customize needs --ignition FILE or --kernel-arg ARG")
			}
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			co := vendors.CustomizeOptions{KernelArgs: o.kernelArgs, Force: o.force, Logger: d.logger(), Epoch: epoch}
			if o.ignition != "" {
				ign, err := provision.Load(cmd.Context(), absPath(d.cwd, o.ignition), "", d.logger())
				if err != nil {
					return err
				}
				co.Ignition = ign.Data
			}
			return vendors.CustomizeISO(cmd.Context(), absPath(d.cwd, args[0]), absPath(d.cwd, o.output), co)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.ignition, "ignition", "", "Ignition config (JSON, or Butane with the butane binary) to embed")
	fs.StringArrayVar(&o.kernelArgs, "kernel-arg", nil, "kernel argument for the boot entries (repeatable)")
	fs.StringVarP(&o.output, "output", "o", "", "the customized ISO to write")
	fs.BoolVar(&o.force, "force", false, "replace OUT if it exists")
	return cmd
}
