package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/install"
)

type installOptions struct {
	bake     bakeOptions
	device   string
	yes      bool
	growRoot bool
	noStream bool
}

func newInstallCmd(d *deps) *cobra.Command {
	o := &installOptions{}
	cmd := &cobra.Command{
		Use:   "install --device DEV [flags] [NAME:FILE...]",
		Short: "Bake and write the image to a disk (device or disk-image file)",
		Long: `install bakes like the root command (same flags and checks; sysexts are
optional here) and writes the result to DEV, a whole disk or an existing
disk-image file: only the image's data is written, the rest of the image's
span and of every partition is zeroed (unmapped where the disk can), the
backup GPT is moved to the disk's end, and everything is read back and
compared before success is reported. ROOT keeps its size (Flatcar grows it
on first boot) unless --grow-root.

DEV is refused when it is a partition, mounted (or one of its partitions
is), held by md, LVM or device-mapper, opened exclusively elsewhere,
smaller than the image, or the disk of the running system. Without --yes,
install asks on the terminal, naming DEV, its size and model; without a
terminal it needs --yes.

While the image decodes, the partitions the bake does not edit (ESP,
BIOS-BOOT, USR-A, USR-B, OEM-CONFIG) are already written to DEV, after its
partition table areas are zeroed: a bake that fails after that point
(its inputs are checked before) leaves DEV without a valid partition
table. --no-stream writes nothing before the bake succeeded.

--output-dir holds the temporary working copy (removed at the end): it
needs room for the image's data (the copy is sparse), not its full size.
` + exitStatusHelp,
		Example: `  bake-os install --device /dev/sdX --image flatcar_production_image.bin.bz2 \
    wasmtime:wasmtime-24.0.0-x86-64.raw
  bake-os install --device /dev/disk/by-id/nvme-XYZ --release stable \
    --fetch --grow-root --yes docker:docker-24.0.9-x86-64.raw`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstall(cmd, o, d, args)
		},
	}
	fs := cmd.Flags()
	o.bake.AddFlags(fs)
	fs.SetNormalizeFunc(normalizeFlags)
	fs.StringVar(&o.device, "device", "", "disk to write: a whole block device or an existing disk-image file")
	fs.BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	fs.BoolVar(&o.growRoot, "grow-root", false, "grow ROOT and its filesystem to the end of the disk now")
	fs.BoolVar(&o.noStream, "no-stream", false, "write nothing to DEV before the bake succeeded (default: the partitions the bake does not edit are written while the image decodes)")
	fs.Lookup("output-dir").Usage = "directory for the temporary working copy"
	for _, name := range []string{"vendor", "compress", "oem-sysext-dir", "firmware-dir", "flatcar-version", "force"} {
		_ = fs.MarkHidden(name)
	}
	return cmd
}

func runInstall(cmd *cobra.Command, o *installOptions, d *deps, args []string) error {
	if o.device == "" {
		return usagef("install needs --device DEV (a whole disk, e.g. /dev/sdX, or a disk-image file)")
	}
	if len(o.bake.vendor.vendors) > 0 {
		return usagef("install writes the plain image: --vendor is for image files (use the root command)")
	}
	bo, err := o.bake.runOptions(cmd.Context(), d, args)
	if err != nil {
		return err
	}
	var baked *bake.Result
	res, err := install.Run(cmd.Context(), install.Options{
		Device: absPath(d.cwd, o.device), Source: bo.Image, ScratchDir: bo.OutputDir, GrowRoot: o.growRoot, NoStream: o.noStream,
		Epoch: bo.Epoch, Reporter: bo.Reporter, Logger: bo.Logger,
		Confirm: func(dev install.Device) error { return confirm(cmd.InOrStdin(), d.stderr, dev, o.yes) },
		Bake: func(ctx context.Context, dir string, written func(string, int64)) (string, error) {
			bo.OutputDir, bo.WorkingCopyWritten = dir, written
			r, err := bake.Run(ctx, bo)
			if err != nil {
				return "", err
			}
			baked = r
			return r.Image, nil
		},
	})
	if err != nil {
		return err
	}
	out := struct {
		*install.Result
		Arch    string           `json:"arch"`
		Sysexts []bake.Installed `json:"sysexts"`
		Masks   []string         `json:"masks,omitempty"`
	}{res, baked.Arch, baked.Sysexts, baked.Masks}
	return printResult(d.stdout, d.g.json, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d bytes written in %d extents, %d zeroed, verified (sha256 %s)\n",
			res.Device, res.BytesWritten, len(res.Extents), res.BytesZeroed, res.SHA256)
	})
}

// confirm asks on the terminal before a disk is overwritten.
func confirm(in io.Reader, out io.Writer, dev install.Device, yes bool) error {
	if yes {
		return nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("not writing %s without confirmation: stdin is not a terminal; pass --yes", dev)
	}
	fmt.Fprintf(out, "Everything on %s will be overwritten. Type \"yes\" to continue: ", dev)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading confirmation: %w", err)
	}
	if strings.TrimSpace(line) != "yes" {
		return fmt.Errorf("not confirmed: nothing written to %s", dev.Path)
	}
	return nil
}
