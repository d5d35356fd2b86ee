package main

import (
	"slices"

	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/provision"
)

// kernelArgOptions are the bake flags for kernel arguments (OEM
// /grub.cfg) and automatic sysext updates.
type kernelArgOptions struct {
	add, remove []string
	autologin   bool
	sysupdate   bool
}

func (o *kernelArgOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.add, "kernel-arg", nil, "add a kernel argument (OEM /grub.cfg linux_append; repeatable)")
	fs.StringArrayVar(&o.remove, "kernel-arg-remove", nil, "remove a kernel argument (ARG, or NAME for NAME=...; repeatable)")
	fs.BoolVar(&o.autologin, "autologin", false, "log the console in without a password (adds "+provision.AutologinArg+")")
	fs.BoolVar(&o.sysupdate, "sysupdate", false, "update baked sysexts that have a sysupdate config with systemd-sysupdate.timer")
}

func (o *kernelArgOptions) given() bool {
	return len(o.add) > 0 || len(o.remove) > 0 || o.autologin
}

// args checks every argument (a usage error names a bad one) and returns
// the arguments to add, --autologin's included.
func (o *kernelArgOptions) args() ([]string, error) {
	add := slices.Clone(o.add)
	if o.autologin && !slices.Contains(add, provision.AutologinArg) {
		add = append(add, provision.AutologinArg)
	}
	if _, err := provision.EditKernelArgs("", add, o.remove); err != nil {
		return nil, err
	}
	return add, nil
}
