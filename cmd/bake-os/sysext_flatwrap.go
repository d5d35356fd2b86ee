package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/sysextbuild/flatwrap"
)

type flatwrapOptions struct {
	etcMap, varMap, homeMap string
	chrootDirs, hostDirs    []string
	pack                    rootfsPackFlags
}

func (o *flatwrapOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.etcMap, "etc-map", flatwrap.MapHost, "/etc from the host or the chroot")
	fs.StringVar(&o.varMap, "var-map", flatwrap.MapHost, "/var from the host or the chroot")
	fs.StringVar(&o.homeMap, "home-map", flatwrap.MapHost, "/home from the host or the chroot")
	fs.StringSliceVar(&o.chrootDirs, "chroot-dirs", nil, "directories from the chroot (default: see above)")
	fs.StringSliceVar(&o.hostDirs, "host-dirs", nil, "directories from the host (default: see above)")
	o.pack.AddFlags(fs, true)
}

func newSysextFlatwrapCmd(d *deps) *cobra.Command {
	o := &flatwrapOptions{}
	cmd := &cobra.Command{
		Use:   "flatwrap ROOTFS NAME PATH...",
		Short: "Make a sysext that runs binaries inside a shipped root filesystem",
		Long: `flatwrap ships ROOTFS under /usr/local/NAME/ and writes an entry point for
each executable PATH that runs it in a private root (unshare as root, bwrap
or an unprivileged user namespace otherwise) with the host's --host-dirs
and /etc, /var, /home (see --etc-map etc.) mapped in. Other PATHs (units,
data) become symlinks into the tree. PATH is /usr/... or SRC:/usr/DEST.
Defaults: --chroot-dirs /usr,/lib,/lib64,/bin,/sbin and
--host-dirs /dev,/proc,/sys,/run,/tmp,/var/tmp.

Test a wrapper from an unpacked tree with FLATWRAP_ROOT=TREE TREE/usr/bin/X.
` + exitStatusHelp,
		Example: `  bake-os sysext flatwrap --etc-map chroot /var/tmp/alpine-htop htop \
    /usr/bin/htop`,
		Args: usageArgs(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextFlatwrap(cmd, o, d, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextFlatwrap(cmd *cobra.Command, o *flatwrapOptions, d *deps, args []string) error {
	pack, err := o.pack.packOptions(d)
	if err != nil {
		return err
	}
	defaultOutput(d, &pack, args[1])
	for _, m := range []string{o.etcMap, o.varMap, o.homeMap} {
		if m != flatwrap.MapHost && m != flatwrap.MapChroot {
			return usagef("invalid map mode %q: use host or chroot", m)
		}
	}
	res, err := flatwrap.Build(cmd.Context(), flatwrap.Options{
		Rootfs: absPath(d.cwd, args[0]), Name: args[1], Paths: args[2:],
		EtcMap: o.etcMap, VarMap: o.varMap, HomeMap: o.homeMap,
		ChrootDirs: o.chrootDirs, HostDirs: o.hostDirs, Keep: o.pack.keep, Pack: pack,
	})
	if err != nil {
		return err
	}
	return printPaths(d, "output", res.Output)
}
