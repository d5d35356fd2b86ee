package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild"
)

// rootfsPackFlags are the packing flags shared by flix, flatwrap and torcx.
type rootfsPackFlags struct {
	output    string
	format    string
	osID      string
	arch      string
	reload    bool
	sysupdate bool
	keep      bool
}

func (o *rootfsPackFlags) AddFlags(fs *pflag.FlagSet, withReload bool) {
	fs.StringVarP(&o.output, "output", "o", "", "image file (default NAME.raw)")
	fs.StringVar(&o.format, "format", "", "squashfs (default), erofs, ext4, ext2, btrfs")
	fs.StringVar(&o.osID, "os", "", "os-release ID such as flatcar (default _any)")
	fs.StringVar(&o.arch, "arch", "", "ARCHITECTURE: x86-64 or arm64 (default none)")
	if withReload {
		fs.BoolVar(&o.reload, "reload", false, "set EXTENSION_RELOAD_MANAGER=1")
	}
	fs.BoolVar(&o.sysupdate, "sysupdate", false, "also write NAME.conf for systemd-sysupdate")
	fs.BoolVar(&o.keep, "keep", false, "keep the tree as directory NAME beside the image")
}

// packOptions turns the flags into sysextbuild.PackOptions.
func (o *rootfsPackFlags) packOptions(d *deps) (sysextbuild.PackOptions, error) {
	f := sysextbuild.DefaultFormat
	if o.format != "" {
		var err error
		if f, err = sysextbuild.ParseFormat(o.format); err != nil {
			return sysextbuild.PackOptions{}, usageError{err}
		}
	}
	var arch flatcar.Arch
	if o.arch != "" {
		var err error
		if arch, err = flatcar.ParseArch(o.arch); err != nil {
			return sysextbuild.PackOptions{}, usageError{err}
		}
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return sysextbuild.PackOptions{}, err
	}
	return sysextbuild.PackOptions{
		Output: absPath(d.cwd, o.output), Format: f, OS: o.osID, Arch: arch,
		Reload: o.reload, Sysupdate: o.sysupdate, Epoch: epoch, Warn: d.warn,
	}, nil
}

// defaultOutput makes the default NAME.raw relative to the working
// directory.
func defaultOutput(d *deps, p *sysextbuild.PackOptions, name string) {
	if p.Output == "" {
		p.Output = absPath(d.cwd, name+".raw")
	}
}

// isLocalPath tells a file or directory argument from a registry reference.
func isLocalPath(d *deps, p string) bool {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") {
		return true
	}
	_, err := os.Stat(absPath(d.cwd, p))
	return err == nil
}
