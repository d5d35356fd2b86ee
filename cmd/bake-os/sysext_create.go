package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/recipe"
)

type sysextCreateOptions struct {
	arch, name, output, format string
	sysupdate                  bool
	without, opts, rewrites    []string
	epoch                      int64
}

func (o *sysextCreateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.arch, "arch", "", "x86-64 (default) or arm64; or amd64, aarch64")
	fs.StringVar(&o.name, "name", "", "extension name (default: RECIPE as given)")
	fs.StringVar(&o.output, "output", "", "image file (default NAME-VERSION-ARCH.raw)")
	fs.StringVar(&o.format, "format", "", formatList())
	fs.BoolVar(&o.sysupdate, "sysupdate", false, "also write NAME.conf for systemd-sysupdate")
	fs.StringSliceVar(&o.without, "without", nil, "docker: leave out docker or containerd")
	fs.StringArrayVar(&o.opts, "opt", nil, "recipe option KEY=VALUE (repeatable)")
	fs.StringArrayVar(&o.rewrites, "url-rewrite", nil, "rewrite URL prefix FROM=TO (repeatable)")
	fs.Int64Var(&o.epoch, "epoch", 0, "timestamps (default $SOURCE_DATE_EPOCH or 0)")
}

func formatList() string {
	var fs []string
	for _, f := range sysextbuild.Formats() {
		fs = append(fs, string(f))
	}
	fs[0] += " (default)"
	return strings.Join(fs, ", ")
}

func newSysextCreateCmd(d *deps) *cobra.Command {
	o := &sysextCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create RECIPE VERSION",
		Short: "Build a sysext from an upstream release with a built-in recipe",
		Long: `create downloads a recipe's upstream artefacts, verifies their SHA-256
wherever upstream publishes one, adds the recipe's units and packs
NAME-VERSION-ARCH.raw (NAME is --name or RECIPE as given).

"bake-os sysext list" shows the recipes and their options (--opt KEY=VALUE,
e.g. --opt cni-version=v1.6.2 for kubernetes); "bake-os sysext list RECIPE"
shows their versions. Environment: ONLY_DOCKER=1 and ONLY_CONTAINERD=1 (old
names of --without for docker), BAKE_OS_URL_REWRITE (FROM=TO pairs separated
by spaces or commas, applied after --url-rewrite) and GH_TOKEN (sent to the
GitHub API).` + exitStatusHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextCreate(cmd, o, d, args[0], args[1])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextCreate(cmd *cobra.Command, o *sysextCreateOptions, d *deps, name, version string) error {
	arch, format := flatcar.ArchX86_64, sysextbuild.Format("")
	var err error
	if o.arch != "" {
		if arch, err = flatcar.ParseArch(o.arch); err != nil {
			return usageError{err}
		}
	}
	if o.format != "" {
		if format, err = sysextbuild.ParseFormat(o.format); err != nil {
			return usageError{err}
		}
	}
	rws, err := recipe.RewritesFromFlags(o.rewrites, os.Getenv)
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
	epoch, err := epochOption(cmd, o.epoch)
	if err != nil {
		return err
	}
	res, err := recipe.Create(cmd.Context(), recipe.CreateOptions{
		Recipe: name, Version: version, Arch: arch, Name: o.name, Output: absPath(d.cwd, o.output),
		Sysupdate: o.sysupdate, Without: o.without, Options: opts, URLRewrites: rws, Epoch: epoch,
		Format: format, Reporter: d.reporter(cmd.Context()), Getenv: os.Getenv, OutputDir: d.cwd,
		HTTPClient: d.httpClient(),
	})
	if err != nil {
		return err
	}
	return printPaths(d, "output", res.Output)
}
