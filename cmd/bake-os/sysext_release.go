package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/recipe"
)

type sysextReleaseOptions struct {
	versions, outputDir, publishedSums, bakeryURL, bakeryRelease, format string
	arches, rewrites                                                     []string
	jobs                                                                 int
	epoch                                                                int64
}

func (o *sysextReleaseOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.versions, "versions", "", "release_build_versions.txt to build")
	fs.StringVar(&o.outputDir, "output-dir", ".", "output directory")
	fs.StringSliceVar(&o.arches, "arch", []string{"x86-64", "arm64"}, "arches to build")
	fs.IntVar(&o.jobs, "jobs", 2, "builds in parallel")
	fs.StringVar(&o.publishedSums, "published-sums", "", "published SHA256SUMS URL: skip what it lists")
	fs.StringVar(&o.bakeryURL, "bakery-url", "", "sysupdate source base URL (default: Flatcar's)")
	fs.StringVar(&o.bakeryRelease, "bakery-release", "", "sysupdate source dir below --bakery-url")
	fs.StringVar(&o.format, "format", string(sysextbuild.DefaultFormat), "image format")
	fs.StringArrayVar(&o.rewrites, "url-rewrite", nil, "rewrite URL prefix FROM=TO (repeatable)")
	fs.Int64Var(&o.epoch, "epoch", 0, "timestamps (default $SOURCE_DATE_EPOCH or 0)")
}

func newSysextReleaseCmd(d *deps) *cobra.Command {
	o := &sysextReleaseOptions{}
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Build every extension of a versions file for x86-64 and arm64",
		Long: "release builds every NAME VERSION line (or old-style NAME-VERSION; VERSION\n" +
			"may be \"latest\") of --versions with the built-in recipes for each --arch,\n" +
			"--jobs at a time. Images already in --output-dir, or listed in the\n" +
			"--published-sums SHA256SUMS, are not rebuilt. Then it writes SHA256SUMS,\n" +
			"SHA256SUMS.NAME and NAME.conf per extension (sources in\n" +
			"BAKERY-URL/BAKERY-RELEASE/, the release defaulting to NAME), noop.conf\n" +
			"and Release.md. --url-rewrite also comes from $" + recipe.URLRewriteEnv + ".\n" + exitStatusHelp,
		Example: "  bake-os sysext release --versions release_build_versions.txt \\\n" +
			"    --output-dir out --jobs 4",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSysextRelease(cmd, o, d)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextRelease(cmd *cobra.Command, o *sysextReleaseOptions, d *deps) error {
	if o.versions == "" {
		return usagef("no versions file: pass --versions release_build_versions.txt")
	}
	var arches []flatcar.Arch
	for _, a := range o.arches {
		arch, err := flatcar.ParseArch(a)
		if err != nil {
			return usageError{err}
		}
		arches = append(arches, arch)
	}
	format, err := sysextbuild.ParseFormat(o.format)
	if err != nil {
		return usageError{err}
	}
	rws, err := recipe.RewritesFromFlags(o.rewrites, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	epoch, err := epochOption(cmd, o.epoch)
	if err != nil {
		return err
	}
	res, err := sysextbuild.Release(cmd.Context(), sysextbuild.ReleaseOptions{
		Versions: absPath(d.cwd, o.versions), OutputDir: absPath(d.cwd, o.outputDir), Arches: arches, Jobs: o.jobs,
		Build: recipe.Builder(recipe.CreateOptions{
			URLRewrites: rws, Epoch: epoch, Format: format, Getenv: os.Getenv, HTTPClient: d.httpClient()}),
		Latest:        recipe.Latest(recipe.ListOptions{URLRewrites: rws, HTTPClient: d.httpClient()}),
		HTTPClient:    d.httpClient(),
		PublishedSums: o.publishedSums, BakeryURL: o.bakeryURL, BakeryRelease: o.bakeryRelease,
		Log: func(msg string) { d.logger().Info(msg) },
	})
	if err != nil {
		return err
	}
	return printPaths(d, "files", res.Files...)
}
