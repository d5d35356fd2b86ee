package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/sysext"
)

type sysextCheckOptions struct {
	name, image, osRelease, arch string
}

func (o *sysextCheckOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.name, "name", "", "extension name, as its link NAME.raw in /etc/extensions gives it (default: FILE without .raw)")
	fs.StringVar(&o.image, "image", "", "check against this Flatcar image (flatcar_production_image.bin): its USR-A os-release")
	fs.StringVar(&o.osRelease, "os-release", "", "check against the host this os-release file describes")
	fs.StringVar(&o.arch, "arch", "", "host architecture: x86-64 or arm64 (default x86-64, or the image's FLATCAR_BOARD)")
}

func newSysextCheckCmd(d *deps) *cobra.Command {
	o := &sysextCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Explain whether systemd-sysext would merge an image",
		Long: `check says whether systemd-sysext would merge FILE, installed as
/etc/extensions/NAME.raw, on a host, one finding per line with its verdict
(ok, refused, warning): the filesystem (squashfs, erofs, ext4, btrfs), the
name systemd derives against the image's extension-release files, ID,
ARCHITECTURE, SYSEXT_LEVEL or VERSION_ID, EXTENSION_RELOAD_MANAGER,
usr/lib/os-release, content outside /usr and /opt (ignored) and usr/sbin
(on Flatcar a symlink to bin, which a usr/sbin directory hides).

The host is the --image's USR-A os-release, the --os-release file, or by
default a Flatcar host of --arch with SYSEXT_LEVEL=1.0 and an unknown
version. Exit status 0: it would merge (warnings included); 1: it would not.` + exitStatusHelp,
		Example: `  bake-os sysext check wasmtime-24.0.0-x86-64.raw --name wasmtime
  bake-os sysext check myext.raw --image flatcar_production_image.bin --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSysextCheck(cmd, o, d, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSysextCheck(cmd *cobra.Command, o *sysextCheckOptions, d *deps, file string) error {
	if o.image != "" && o.osRelease != "" {
		return usagef("give --image or --os-release, not both")
	}
	var arch flatcar.Arch
	if o.arch != "" {
		a, err := flatcar.ParseArch(o.arch)
		if err != nil {
			return usageError{err}
		}
		arch = a
	}
	if o.name != "" {
		if err := sysext.ValidName(o.name); err != nil {
			return usageError{err}
		}
	}
	host := sysext.FlatcarHost(arch, "")
	if host.Arch == "" {
		host.Arch = flatcar.ArchX86_64
	}
	var rel *osrelease.Release
	switch {
	case o.image != "":
		r, err := bake.ImageOSRelease(cmd.Context(), absPath(d.cwd, o.image))
		if err != nil {
			return err
		}
		rel = r
	case o.osRelease != "":
		data, err := os.ReadFile(absPath(d.cwd, o.osRelease))
		if err != nil {
			return fmt.Errorf("reading --os-release: %w", err)
		}
		if rel, err = osrelease.ParseString(string(data)); err != nil {
			return fmt.Errorf("parsing --os-release %s: %w", o.osRelease, err)
		}
	}
	if rel != nil {
		h, err := bake.HostOf(rel, arch)
		if err != nil {
			return usageError{err}
		}
		host = h
	}
	r, err := sysext.Check(absPath(d.cwd, file), sysext.CheckOptions{Name: o.name, Host: host})
	if err != nil {
		return err
	}
	r.File = file
	if err := printResult(d.stdout, d.g.json, r, func(w io.Writer) {
		for _, f := range r.Findings {
			fmt.Fprintf(w, "%-8s %-25s %s\n", f.Verdict, f.Check, f.Message)
		}
	}); err != nil {
		return err
	}
	hostName := host.ID
	if host.VersionID != "" {
		hostName += " " + host.VersionID
	}
	if !r.Merges {
		return fmt.Errorf("systemd-sysext on %s (%s) would not merge %s as %s", hostName, host.Arch, file, r.Name)
	}
	if !d.g.json {
		fmt.Fprintf(d.stdout, "systemd-sysext on %s (%s) would merge %s as %s\n", hostName, host.Arch, file, r.Name)
	}
	return nil
}
