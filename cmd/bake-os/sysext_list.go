package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/sysextbuild/recipe"
)

type sysextListOptions struct {
	latest   bool
	rewrites []string
}

func (o *sysextListOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.latest, "latest", false, "only the newest (one per minor for some)")
	fs.StringArrayVar(&o.rewrites, "url-rewrite", nil, "rewrite URL prefix FROM=TO (repeatable)")
}

func newSysextListCmd(d *deps) *cobra.Command {
	o := &sysextListOptions{}
	cmd := &cobra.Command{
		Use:   "list [RECIPE]",
		Short: "List the built-in recipes, or a recipe's upstream versions",
		Long: `Without RECIPE, list prints every recipe: name (aliases), source kind and
version source, arches (bakery=upstream spelling), whether it asks systemd
to reload, and its options. With RECIPE, it prints the upstream versions
newest first, spelled as "sysext create" takes them. GitHub API requests
send $GH_TOKEN when set; BAKE_OS_URL_REWRITE applies as for create.` + exitStatusHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextList(cmd, o, d, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextList(cmd *cobra.Command, o *sysextListOptions, d *deps, args []string) error {
	if len(args) == 0 {
		if o.latest {
			return usagef("--latest needs a RECIPE")
		}
		if d.g.json {
			return printResult(d.stdout, true, recipe.All(), nil)
		}
		return recipe.WriteTable(d.stdout, recipe.All())
	}
	rws, err := recipe.RewritesFromFlags(o.rewrites, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	vs, err := recipe.ListVersions(cmd.Context(), args[0], recipe.ListOptions{
		Latest: o.latest, URLRewrites: rws, HTTPClient: d.httpClient()})
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []string{}
	}
	return printResult(d.stdout, d.g.json, vs, func(w io.Writer) {
		for _, v := range vs {
			fmt.Fprintln(w, v)
		}
	})
}
