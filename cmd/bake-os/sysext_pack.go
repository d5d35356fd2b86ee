package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild"
)

type sysextPackOptions struct {
	arch, name, osID, format, output, extFSSize, bakeryURL string
	oem, flatcarVersion                                    string
	reload, sysupdate                                      bool
	epoch                                                  int64
}

func (o *sysextPackOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.arch, "arch", "", "ARCHITECTURE field: x86-64 or arm64 (default none)")
	fs.StringVar(&o.name, "name", "", "extension name (default: DIR's base name)")
	fs.StringVar(&o.osID, "os", sysextbuild.AnyOS, "_any or an os-release ID (flatcar)")
	fs.StringVar(&o.format, "format", string(sysextbuild.DefaultFormat), "image format, see above")
	fs.BoolVar(&o.reload, "reload", false, "set EXTENSION_RELOAD_MANAGER=1")
	fs.Int64Var(&o.epoch, "epoch", 0, "timestamps (default $SOURCE_DATE_EPOCH or 0)")
	fs.StringVar(&o.output, "output", "", "image file (default NAME.raw)")
	fs.StringVar(&o.extFSSize, "ext-fs-size", "", "ext4/ext2 size, e.g. 512M (default: computed)")
	fs.BoolVar(&o.sysupdate, "sysupdate", false, "also write NAME.conf for systemd-sysupdate")
	fs.StringVar(&o.bakeryURL, "bakery-url", "", "sysupdate source base URL (default: Flatcar's)")
	fs.StringVar(&o.oem, "oem", "", "pack the OEM sysext oem-ID.raw (ID: qemu, azure, ...)")
	fs.StringVar(&o.flatcarVersion, "flatcar-version", "", "with --oem: its Flatcar version (default: any)")
}

func newSysextPackCmd(d *deps) *cobra.Command {
	o := &sysextPackOptions{}
	cmd := &cobra.Command{
		Use:   "pack DIR",
		Short: "Pack a directory into a sysext image (like the bakery's bake.sh)",
		Long: "pack writes DIR's usr/ and opt/ into NAME.raw with the metadata file\n" +
			"usr/lib/extension-release.d/extension-release.NAME, and writes\n" +
			"SHA256SUMS.NAME (and with --sysupdate NAME.conf, whose images are looked\n" +
			"up in BAKERY-URL/NAME/) beside it. Every file is owned by root and stamped\n" +
			"with the epoch; two packs of a tree are byte-identical (btrfs excepted).\n" +
			"DIR is not modified. A tree with usr/sbin is refused.\n\n" +
			"Formats and their tools: squashfs (default): mksquashfs (squashfs-tools);\n" +
			"erofs: mkfs.erofs (erofs-utils); ext4, ext2: mke2fs, debugfs, dumpe2fs\n" +
			"(e2fsprogs); btrfs: mkfs.btrfs (btrfs-progs).\n\n" +
			"An extension-release.NAME already in DIR is kept: the generated fields are\n" +
			"added to it, and one it sets differently is refused.\n\n" +
			"--oem ID packs Flatcar's OEM sysext oem-ID.raw (for vendor images without\n" +
			"--release): ID=flatcar, VERSION_ID (--flatcar-version) or SYSEXT_LEVEL=1.0,\n" +
			"ARCHITECTURE (default x86-64), EXTENSION_RELOAD_MANAGER=1 and\n" +
			"SYSEXT_ID=oem-ID; put SYSEXT_NAME, SYSEXT_HOME_URL and the like in DIR's\n" +
			"usr/lib/extension-release.d/extension-release.oem-ID. See docs/oem-sysexts.md.\n" + exitStatusHelp,
		Example: "  bake-os sysext pack ./wasmtime --arch x86-64 --os flatcar --sysupdate\n" +
			"  bake-os sysext pack ./qemu-oem --oem qemu --flatcar-version 4593.2.5",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextPack(cmd, o, d, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextPack(cmd *cobra.Command, o *sysextPackOptions, d *deps, dir string) error {
	var arch flatcar.Arch
	if o.arch != "" {
		a, err := flatcar.ParseArch(o.arch)
		if err != nil {
			return usageError{err}
		}
		arch = a
	}
	if o.flatcarVersion != "" && o.oem == "" {
		return usagef("--flatcar-version applies to OEM sysexts only: add --oem ID or drop it")
	}
	if o.oem != "" && o.name != "" && o.name != sysextbuild.OEMName(o.oem) {
		return usagef("the OEM sysext for %s is named %s: drop --name or use --name %s", o.oem, sysextbuild.OEMName(o.oem), sysextbuild.OEMName(o.oem))
	}
	format, err := sysextbuild.ParseFormat(o.format)
	if err != nil {
		return usageError{err}
	}
	size, err := parseSize(o.extFSSize)
	if err != nil {
		return usagef("invalid --ext-fs-size %q: use bytes or a K, M, G suffix", o.extFSSize)
	}
	epoch, err := epochOption(cmd, o.epoch)
	if err != nil {
		return err
	}
	res, err := sysextbuild.Pack(cmd.Context(), sysextbuild.PackOptions{
		Dir: absPath(d.cwd, dir), Name: o.name, OS: o.osID, Arch: arch, Format: format,
		Reload: o.reload, Epoch: epoch, Output: absPath(d.cwd, o.output), OutputDir: d.cwd, ExtFSSize: size,
		Sysupdate: o.sysupdate, BakeryURL: o.bakeryURL, OEM: o.oem, Version: o.flatcarVersion,
		Warn: d.warn,
	})
	if err != nil {
		return err
	}
	return printPaths(d, "output", res.Output)
}

// parseSize reads a byte count with an optional K, M or G (binary) suffix;
// "" is 0.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}
