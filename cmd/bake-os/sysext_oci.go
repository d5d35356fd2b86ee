package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild/oci"
)

type ociRootfsOptions struct {
	arch string
	cmd  string
}

func (o *ociRootfsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.arch, "arch", "x86-64", "platform: x86-64 or arm64")
	fs.StringVar(&o.cmd, "cmd", "", "command to run in the image first (podman/docker)")
}

func newSysextOCIRootfsCmd(d *deps) *cobra.Command {
	o := &ociRootfsOptions{}
	cmd := &cobra.Command{
		Use:   "oci-rootfs IMAGE DIR",
		Short: "Unpack a container image's root filesystem into a directory",
		Long: `oci-rootfs unpacks IMAGE's layers in order (whiteouts applied) into DIR,
which must not exist or be empty. IMAGE is an OCI image layout directory,
a docker/podman save archive, or a registry reference such as
alpine:latest (pulled without Docker). --cmd runs a command in a
container first and needs podman or docker.
` + exitStatusHelp,
		Example: `  bake-os sysext oci-rootfs \
    --cmd "apt-get update && apt-get install -y nginx" \
    debian /var/tmp/debian-nginx
  bake-os sysext oci-rootfs ./image-layout /var/tmp/rootfs`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextOCIRootfs(cmd, o, d, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextOCIRootfs(cmd *cobra.Command, o *ociRootfsOptions, d *deps, args []string) error {
	arch, err := flatcar.ParseArch(o.arch)
	if err != nil {
		return usageError{err}
	}
	image := args[0]
	if isLocalPath(d, image) {
		image = absPath(d.cwd, image)
	}
	dir := absPath(d.cwd, args[1])
	err = oci.Rootfs(cmd.Context(), oci.Options{
		Image: image, Dir: dir, Arch: arch, Cmd: o.cmd, Warn: d.warn,
	})
	if err != nil {
		return err
	}
	return printPaths(d, "dir", dir)
}
