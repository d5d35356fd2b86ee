package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/vendors"
)

const exitStatusHelp = `
EXIT STATUS
  0    success
  1    failure (bad input, tool error, I/O error)
  2    usage error (unknown flag, bad argument)
  3    verification failed (signature, checksum)
  130  interrupted (SIGINT); 143 for SIGTERM, 129 for SIGHUP`

// bakeOptions are the root command's flags, compatible with the
// sysext-bakery's bake_flatcar_image.sh.
type bakeOptions struct {
	image     string
	outputDir string
	installTo string
	arch      string
	masks     []string
	json      bool
	verbose   bool
	quiet     bool
	workers   int
	mount     bool
	force     bool
	fetch     fetchOptions
	vendor    vendorOptions
}

func (o *bakeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.image, "image", "", "local flatcar_production_image.bin or .bin.bz2")
	fs.StringVar(&o.outputDir, "output-dir", ".", "directory for the baked image(s)")
	fs.StringVar(&o.installTo, "install_to", bake.DefaultInstallTo, "root:/DIR/ or oem:/DIR/")
	fs.StringVar(&o.arch, "arch", "x86-64", "x86-64 or arm64 (also amd64, x86_64, aarch64)")
	fs.StringArrayVar(&o.masks, "mask", nil, "mask a sysext: /etc/extensions/NAME.raw -> /dev/null (repeatable)")
	fs.BoolVar(&o.json, "json", false, "print a machine-readable result on stdout")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "log details to stderr")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress output")
	fs.IntVar(&o.workers, "workers", 0, "parallel workers (0: one per CPU)")
	fs.BoolVar(&o.mount, "mount", false, "edit through loop mounts (root only) instead of rootless tools")
	fs.BoolVar(&o.force, "force", false, "replace existing outputs (the image and vendor files)")
	o.fetch.AddFlags(fs)
	o.vendor.AddFlags(fs)
}

// normalizeFlags accepts --install-to for --install_to.
func normalizeFlags(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "install-to" {
		name = "install_to"
	}
	return pflag.NormalizedName(name)
}

func newRootCmd(d *deps) *cobra.Command {
	o := &bakeOptions{}
	cmd := &cobra.Command{
		Use:   "bake-os [flags] NAME:FILE...",
		Short: "Bake systemd-sysext images into Flatcar Container Linux disk images",
		Long: `bake-os puts sysext images into a Flatcar disk image's ROOT or OEM
partition, rootless and without mounts, with /etc/extensions symlinks,
sysupdate configs and masks, and writes OUTPUT-DIR/` + bake.ImageName + `.
Without --image it downloads the --release image (verified with Flatcar's
signing key, cached); with --fetch each sysext comes from the bakery.
With --vendor it writes vendor images instead of the plain image (add
"generic" for that one too).

VENDORS
` + vendors.HelpText() + `

Each NAME:FILE installs FILE (relative to the current directory) as the
extension NAME; NAME.conf next to FILE or in the current directory is its
systemd-sysupdate config.
` + exitStatusHelp,
		Example: `  bake-os --image flatcar_production_image.bin.bz2 wasmtime:wasmtime-24.0.0-x86-64.raw
  bake-os --image flatcar_production_image.bin --install_to oem:/sysext/ myext:myext.raw
  bake-os --image img.bin --mask docker-flatcar --mask containerd-flatcar \
    docker:docker-24.0.9-x86-64.raw`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBake(cmd, o, d, args)
		},
	}
	cmd.SetOut(d.stdout)
	cmd.SetErr(d.stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	o.AddFlags(cmd.Flags())
	cmd.Flags().SetNormalizeFunc(normalizeFlags)
	cmd.AddCommand(
		newInspectCmd(d),
		newDemoCmd(d),
		newSysextCmd(d),
		newBootCmd(d),
		newInstallCmd(d),
	)
	return cmd
}

func runBake(cmd *cobra.Command, o *bakeOptions, d *deps, args []string) error {
	if len(args) == 0 && len(o.masks) == 0 && len(o.vendor.vendors) == 0 {
		return usagef("nothing to bake: give NAME:FILE arguments, --mask or --vendor (see --help)")
	}
	bo, err := o.runOptions(d, args)
	if err != nil {
		return err
	}
	res, err := bake.Run(cmd.Context(), bo)
	if err != nil {
		return err
	}
	return printResult(d.stdout, o.json, res, func(w io.Writer) {
		if res.Image != "" {
			fmt.Fprintln(w, res.Image)
		}
		for _, a := range res.Artifacts {
			fmt.Fprintln(w, a.Path)
		}
	})
}

// runOptions turns the bake flags and NAME:FILE arguments into
// bake.Options (shared by the root command and install).
func (o *bakeOptions) runOptions(d *deps, args []string) (bake.Options, error) {
	arch, err := flatcar.ParseArch(o.arch)
	if err != nil {
		return bake.Options{}, usageError{err}
	}
	target, err := bake.ParseTarget(o.installTo)
	if err != nil {
		return bake.Options{}, usageError{err}
	}
	sysexts, err := bake.ParseSysextArgs(args, d.cwd)
	if err != nil {
		return bake.Options{}, usageError{err}
	}
	var vs []vendors.Vendor
	if len(o.vendor.vendors) > 0 {
		if vs, err = vendors.ParseForArch(o.vendor.vendors, arch); err != nil {
			return bake.Options{}, usageError{err}
		}
	}
	return bake.Options{
		Image: absPath(d.cwd, o.image), OutputDir: absPath(d.cwd, o.outputDir), Target: target, Arch: arch,
		Sysexts: sysexts, Masks: o.masks, Epoch: sourceDateEpoch(), Workers: o.workers, Mount: o.mount,
		Vendors: vs, VendorOptions: o.vendor.options(d), Force: o.force,
		Remote:   bake.Remote{Image: o.image == "", Sysexts: o.fetch.fetch, Fetch: o.fetch.options(arch, d, o.quiet || o.json)},
		Reporter: d.reporter(o.quiet || o.json), Logger: d.logger(o.verbose),
	}, nil
}

func printResult(w io.Writer, asJSON bool, v any, plain func(io.Writer)) error {
	if !asJSON {
		plain(w)
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isVerification(err error) bool { return errors.Is(err, fetch.ErrSignature) }
