package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild"
)

type sysextCreateOptions struct {
	arch, name, output, format string
	sysupdate, quiet           bool
	without, opts, rewrites    []string
	epoch                      int64
}

func (o *sysextCreateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.arch, "arch", "x86-64", "architecture: x86-64 or arm64 (amd64, x86_64, aarch64)")
	fs.StringVar(&o.name, "name", "", "extension name (default: the recipe name as given)")
	fs.StringVar(&o.output, "output", "", "image file (default NAME-VERSION-ARCH.raw)")
	fs.StringVar(&o.format, "format", "squashfs", "image format: "+formatList())
	fs.BoolVar(&o.sysupdate, "sysupdate", false, "also write NAME.conf for systemd-sysupdate")
	fs.StringSliceVar(&o.without, "without", nil, "docker recipe: leave out docker or containerd (also ONLY_DOCKER=1, ONLY_CONTAINERD=1)")
	fs.StringArrayVar(&o.opts, "opt", nil, "recipe option KEY=VALUE, e.g. cni-version=v1.6.2 (repeatable; see sysext list)")
	fs.StringArrayVar(&o.rewrites, "url-rewrite", nil, "rewrite download URL prefix FROM=TO (repeatable; also $"+sysextbuild.URLRewriteEnv+")")
	fs.Int64Var(&o.epoch, "epoch", 0, "timestamp of every file (default $SOURCE_DATE_EPOCH, else 0)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress output")
}

func formatList() string {
	var fs []string
	for _, f := range sysextbuild.Formats() {
		fs = append(fs, string(f))
	}
	return strings.Join(fs, ", ")
}

func newSysextCreateCmd(d *deps) *cobra.Command {
	o := &sysextCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create RECIPE VERSION",
		Short: "Build a sysext image from an upstream release with a built-in recipe",
		Long: "create downloads a recipe's upstream artefacts, verifies the SHA-256 wherever upstream\n" +
			"publishes one, adds the recipe's units and packs RECIPE-VERSION-ARCH.raw.\n" +
			"`bake-os sysext list` shows the recipes, `bake-os sysext list RECIPE` their versions." + exitStatusHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextCreate(cmd, o, d, args[0], args[1])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextCreate(cmd *cobra.Command, o *sysextCreateOptions, d *deps, recipe, version string) error {
	arch, err := flatcar.ParseArch(o.arch)
	if err != nil {
		return usageError{err}
	}
	format, err := sysextbuild.ParseFormat(o.format)
	if err != nil {
		return usageError{err}
	}
	rws, err := sysextbuild.RewritesFromFlags(o.rewrites, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	opts := map[string]string{}
	for _, kv := range o.opts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("invalid --opt %q: use KEY=VALUE", kv)
		}
		opts[strings.TrimPrefix(k, "--")] = v
	}
	epoch := o.epoch
	if !cmd.Flags().Changed("epoch") {
		if epoch, err = sysextbuild.EpochFromEnv(); err != nil {
			return usageError{err}
		}
	}
	res, err := sysextbuild.Create(cmd.Context(), sysextbuild.CreateOptions{
		Recipe: recipe, Version: version, Arch: arch, Name: o.name, Output: absPath(d.cwd, o.output),
		Sysupdate: o.sysupdate, Without: o.without, Options: opts, URLRewrites: rws, Epoch: epoch,
		Format: format, Reporter: d.reporter(o.quiet), Getenv: os.Getenv, OutputDir: d.cwd,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(d.stdout, res.Output)
	return nil
}
