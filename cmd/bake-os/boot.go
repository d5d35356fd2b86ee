package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/boot"
	"github.com/bake-os/bake-os/flatcar"
)

type bootOptions struct {
	ignition    string
	sshPort     int
	memory      int
	cpus        int
	console     bool
	arch        string
	firmwareDir string
	kernel      string
	initrd      string
	appendArgs  string
	accel       string
}

func (o *bootOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ignition, "ignition", "", "Ignition config for the first boot (QEMU fw_cfg)")
	fs.IntVar(&o.sshPort, "ssh-port", boot.DefaultSSHPort, "host port forwarded to the guest's ssh (-1: none)")
	fs.IntVar(&o.memory, "memory", 2048, "memory in MiB")
	fs.IntVar(&o.cpus, "cpus", 2, "virtual CPUs")
	fs.BoolVar(&o.console, "console", false, "serial console on this terminal")
	fs.StringVar(&o.arch, "arch", "x86-64", "x86-64 or arm64")
	fs.StringVar(&o.firmwareDir, "firmware-dir", "", "UEFI firmware (default: beside the image, else OVMF/AAVMF)")
	fs.StringVar(&o.kernel, "kernel", "", "boot this kernel directly instead of the firmware")
	fs.StringVar(&o.initrd, "initrd", "", "initrd for --kernel")
	fs.StringVar(&o.appendArgs, "append", "", "kernel command line for --kernel")
	fs.StringVar(&o.accel, "accel", "", "kvm or tcg (default: kvm when /dev/kvm is usable)")
}

func newBootCmd(d *deps) *cobra.Command {
	o := &bootOptions{}
	cmd := &cobra.Command{
		Use:   "boot IMAGE|OUTPUT-DIR",
		Short: "Start a baked image in QEMU (the image is never modified)",
		Long: `boot starts QEMU on a bake's output: the qemu_uefi qcow2 or the generic
raw image (from an output directory, or the file given), with UEFI
firmware, a copy-on-write overlay (the image is never modified), user
networking with ssh forwarded to --ssh-port, and the --ignition config
passed through fw_cfg as Flatcar's QEMU launcher does. KVM is used when
/dev/kvm is usable, else TCG. Ctrl-C stops the VM.` + exitStatusHelp,
		Example: `  bake-os boot out/ --ignition config.ign
  bake-os boot flatcar_production_qemu_uefi_image.img --console`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBoot(cmd, o, d, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runBoot(cmd *cobra.Command, o *bootOptions, d *deps, image string) error {
	arch, err := flatcar.ParseArch(o.arch)
	if err != nil {
		return usageError{err}
	}
	if o.accel != "" && o.accel != "kvm" && o.accel != "tcg" {
		return usagef("--accel %q: want kvm or tcg", o.accel)
	}
	if (o.initrd != "" || o.appendArgs != "") && o.kernel == "" {
		return usagef("--initrd and --append need --kernel")
	}
	var stdin = cmd.InOrStdin()
	if !o.console && o.kernel == "" {
		stdin = nil
	}
	return boot.Run(cmd.Context(), boot.Options{
		Image: absPath(d.cwd, image), Arch: arch, Ignition: absPath(d.cwd, o.ignition), SSHPort: o.sshPort,
		MemoryMiB: o.memory, CPUs: o.cpus, Console: o.console, FirmwareDir: absPath(d.cwd, o.firmwareDir),
		Kernel: absPath(d.cwd, o.kernel), Initrd: absPath(d.cwd, o.initrd), Append: o.appendArgs, Accel: o.accel,
		Stdin: stdin, Stdout: d.stdout, Stderr: d.stderr, Logger: d.logger(),
	})
}
