package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/sysextbuild/torcx"
)

type torcxOptions struct{ pack rootfsPackFlags }

func (o *torcxOptions) AddFlags(fs *pflag.FlagSet) { o.pack.AddFlags(fs, false) }

func newSysextTorcxCmd(d *deps) *cobra.Command {
	o := &torcxOptions{}
	cmd := &cobra.Command{
		Use:   "torcx TARBALL NAME",
		Short: "Convert a Torcx image tarball into a sysext",
		Long: `torcx converts a Torcx tarball on a best-effort basis: bin/ and lib/ move
under /usr, .torcx is dropped, units lose /run/metadata/torcx and
torcx.target dependencies and get TORCX_BINDIR=/usr/bin, TORCX_UNPACKDIR=/
and an empty TORCX_IMAGEDIR, and *.wants/ links become Upholds= drop-ins.
EXTENSION_RELOAD_MANAGER=1 is always set. Check that no containerd.service
drop-in under /etc still uses Torcx paths.
` + exitStatusHelp,
		Example: `  bake-os sysext torcx docker:20.10.torcx.tgz docker --os flatcar`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextTorcx(cmd, o, d, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextTorcx(cmd *cobra.Command, o *torcxOptions, d *deps, args []string) error {
	pack, err := o.pack.packOptions(d)
	if err != nil {
		return err
	}
	defaultOutput(d, &pack, args[1])
	res, err := torcx.Build(cmd.Context(), torcx.Options{
		Tarball: absPath(d.cwd, args[0]), Name: args[1], Keep: o.pack.keep, Pack: pack,
	})
	if err != nil {
		return err
	}
	return printPaths(d, "output", res.Output)
}
