package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/sysextbuild/flix"
)

type flixOptions struct {
	extraLibs []string
	pack      rootfsPackFlags
}

func (o *flixOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.extraLibs, "extra-lib", nil, "dlopen'd library in ROOTFS (repeatable)")
	o.pack.AddFlags(fs, true)
}

func newSysextFlixCmd(d *deps) *cobra.Command {
	o := &flixOptions{}
	cmd := &cobra.Command{
		Use:   "flix ROOTFS NAME PATH...",
		Short: "Package binaries of any root filesystem with their libraries",
		Long: `flix copies the binaries and resources PATH... out of ROOTFS, puts the
libraries they need and their loader in /usr/local/NAME/, rewrites their
interpreter and rpath (with patchelf) and packs the tree as NAME.raw.

PATH is /usr/... or SRC:/usr/DEST for files outside /usr, e.g.
/bin/busybox:/usr/bin/busybox. Do not pass libraries; use --extra-lib for
libraries the binaries dlopen.

Libraries are looked up where ROOTFS's loader would look: the binaries'
rpath, the directories ROOTFS's /etc/ld.so.conf (and ld.so.conf.d) lists,
then the loader's built-in ones for the binaries' machine (Debian/Ubuntu
multiarch /lib/TRIPLET and /usr/lib/TRIPLET, e.g. x86_64-linux-gnu or
aarch64-linux-gnu, then /lib64, /usr/lib64, /lib, /usr/lib).
` + exitStatusHelp,
		Example: `  bake-os sysext oci-rootfs --cmd "apk -U add b3sum" alpine:latest \
    /var/tmp/alpine-b3sum
  bake-os sysext flix /var/tmp/alpine-b3sum b3sum /usr/bin/b3sum \
    /bin/busybox:/usr/bin/busybox`,
		Args: usageArgs(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextFlix(cmd, o, d, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextFlix(cmd *cobra.Command, o *flixOptions, d *deps, args []string) error {
	pack, err := o.pack.packOptions(d)
	if err != nil {
		return err
	}
	defaultOutput(d, &pack, args[1])
	res, err := flix.Build(cmd.Context(), flix.Options{
		Rootfs: absPath(d.cwd, args[0]), Name: args[1], Paths: args[2:],
		ExtraLibs: o.extraLibs, Keep: o.pack.keep, Pack: pack,
	})
	if err != nil {
		return err
	}
	return printPaths(d, "output", res.Output)
}
