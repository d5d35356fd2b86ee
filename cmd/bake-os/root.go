package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/runlog"
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
	workers   int
	mount     bool
	force     bool
	ignition  string
	ignMerge  bool
	enableExt []string
	disabExt  []string
	kargs     kernelArgOptions
	fetch     fetchOptions
	vendor    vendorOptions
}

func (o *bakeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.image, "image", "", "local flatcar_production_image.bin or .bin.bz2")
	fs.StringVar(&o.outputDir, "output-dir", ".", "directory for the baked image(s)")
	fs.StringVar(&o.installTo, "install_to", bake.DefaultInstallTo, "root:/DIR/ or oem:/DIR/")
	fs.StringVar(&o.arch, "arch", "", "x86-64 or arm64 (or amd64, aarch64); default: the image's")
	fs.StringArrayVar(&o.masks, "mask", nil, "mask a sysext: /etc/extensions/NAME.raw -> /dev/null (repeatable)")
	fs.IntVar(&o.workers, "workers", 0, "parallel workers (0: one per CPU)")
	fs.BoolVar(&o.mount, "mount", false, "edit through loop mounts (root only) instead of rootless tools")
	fs.BoolVar(&o.force, "force", false, "replace existing outputs (image, vendor files, an image's Ignition config)")
	fs.StringVar(&o.ignition, "ignition", "", "Ignition config (JSON, or Butane with butane installed) baked into OEM")
	fs.BoolVar(&o.ignMerge, "ignition-merge", false, "merge --ignition with the config the image already holds")
	fs.StringArrayVar(&o.enableExt, "enable-extension", nil, "enable Flatcar's extension NAME (zfs, podman...), pre-placed (repeatable)")
	fs.StringArrayVar(&o.disabExt, "disable-extension", nil, "disable Flatcar's extension NAME (docker, containerd...) (repeatable)")
	o.kargs.AddFlags(fs)
	o.fetch.AddFlags(fs)
	o.vendor.AddFlags(fs)
}

// AddFlags adds the persistent flags every command honours.
func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&g.json, "json", false, "machine-readable result on stdout (logs stay on stderr)")
	fs.BoolVarP(&g.verbose, "verbose", "v", false, "debug lines: each tool run and HTTP request")
	fs.BoolVarP(&g.quiet, "quiet", "q", false, "errors only: no warnings, no progress")
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
		Example: `  bake-os --image flatcar_production_image.bin.bz2 \
    wasmtime:wasmtime-24.0.0-x86-64.raw
  bake-os --image flatcar_production_image.bin --install_to oem:/sysext/ \
    myext:myext.raw
  bake-os --image img.bin --mask docker-flatcar --mask containerd-flatcar \
    docker:docker-24.0.9-x86-64.raw`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildInfo().String(),
		Args:          checkSysextArgs,
		// Every command's packages log through the one logger, also
		// where no option takes it (tool runners find it in the context).
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			log := d.logger()
			cmd.SetContext(runlog.With(cmd.Context(), log))
			removeStaleTemps(log)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBake(cmd, o, d, args)
		},
	}
	cmd.SetOut(d.stdout)
	cmd.SetErr(d.stderr)
	cmd.SetVersionTemplate("bake-os {{.Version}}\n")
	fitHelp(cmd)
	cmd.SetHelpCommand(newHelpCmd())
	d.g.AddFlags(cmd.PersistentFlags())
	o.AddFlags(cmd.Flags())
	cmd.Flags().SetNormalizeFunc(normalizeFlags)
	cmd.AddCommand(
		newInspectCmd(d),
		newDemoCmd(d),
		newSysextCmd(d),
		newButaneCmd(d),
		newBootCmd(d),
		newVersionCmd(d),
		newInstallCmd(d),
		newISOCmd(d),
	)
	markUsageErrors(cmd)
	return cmd
}

func runBake(cmd *cobra.Command, o *bakeOptions, d *deps, args []string) error {
	if len(args) == 0 && len(o.masks) == 0 && len(o.vendor.vendors) == 0 && o.ignition == "" && len(o.enableExt)+len(o.disabExt) == 0 && !o.kargs.given() {
		return usagef("nothing to bake: give NAME:FILE arguments, --mask, --ignition, --enable-extension, --kernel-arg or --vendor (see --help)")
	}
	if o.ignMerge && o.ignition == "" {
		return usagef("--ignition-merge needs --ignition FILE")
	}
	ctx := cmd.Context()
	bo, err := o.runOptions(ctx, d, args)
	if err != nil {
		return err
	}
	res, err := bake.Run(ctx, bo)
	if err != nil {
		return err
	}
	return printResult(d.stdout, d.g.json, res, func(w io.Writer) {
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
func (o *bakeOptions) runOptions(ctx context.Context, d *deps, args []string) (bake.Options, error) {
	var arch flatcar.Arch // "": the image's
	if o.arch != "" {
		a, err := flatcar.ParseArch(o.arch)
		if err != nil {
			return bake.Options{}, usageError{err}
		}
		arch = a
	}
	target, err := bake.ParseTarget(o.installTo)
	if err != nil {
		return bake.Options{}, usageError{err}
	}
	sysexts, err := bake.ParseSysextArgs(args, d.cwd)
	if err != nil {
		return bake.Options{}, usageError{err}
	}
	if err := bake.CheckMasks(o.masks, sysexts); err != nil {
		return bake.Options{}, usageError{err}
	}
	if err := bake.CheckExtensions(o.enableExt, o.disabExt, sysexts, o.masks); err != nil {
		return bake.Options{}, usageError{err}
	}
	kargs, err := o.kargs.args()
	if err != nil {
		return bake.Options{}, usageError{err}
	}
	var vs []vendors.Vendor
	if len(o.vendor.vendors) > 0 {
		if vs, err = vendors.ParseForArch(o.vendor.vendors, arch); err != nil {
			return bake.Options{}, usageError{err}
		}
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return bake.Options{}, err
	}
	return bake.Options{
		Image: absPath(d.cwd, o.image), OutputDir: absPath(d.cwd, o.outputDir), Target: target, Arch: arch,
		Sysexts: sysexts, Masks: o.masks, Epoch: epoch, Workers: o.workers, Mount: o.mount,
		Vendors: vs, VendorOptions: o.vendor.options(d), Force: o.force,
		IgnitionFile: absPath(d.cwd, o.ignition), IgnitionMerge: o.ignMerge,
		EnableExtensions: o.enableExt, DisableExtensions: o.disabExt,
		KernelArgs: kargs, KernelArgsRemove: o.kargs.remove, Sysupdate: o.kargs.sysupdate,
		Remote:   bake.Remote{Image: o.image == "", Sysexts: o.fetch.fetch, Fetch: o.fetch.options(ctx, arch, d)},
		Reporter: d.reporter(ctx), Logger: d.logger(),
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

// removeStaleTemps removes what killed runs left in the system temp
// directory (output directories are swept under their lock). Nothing
// here stops the run: a failure is a debug line.
func removeStaleTemps(log *slog.Logger) {
	dir := os.TempDir()
	removed, err := atomicfile.RemoveStaleIn(dir, atomicfile.StaleAge)
	if err != nil {
		log.Debug("not removing stale temporary files", "err", err)
	}
	for _, name := range removed {
		log.Debug("removed a temporary file of a killed run", "path", filepath.Join(dir, name))
	}
}
