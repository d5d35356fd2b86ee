package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sysext"
)

type butaneOptions struct {
	masks     []string
	sysupdate bool
	bakeryURL string
	arch      string
}

func (o *butaneOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.masks, "mask", nil, "mask a sysext: /etc/extensions/NAME.raw -> /dev/null (repeatable)")
	fs.BoolVar(&o.sysupdate, "sysupdate", false, "auto-update the sysexts with systemd-sysupdate (NAME.conf from the bakery)")
	fs.StringVar(&o.bakeryURL, "bakery-url", fetch.DefaultBakeryURL, "where the machine downloads FILE and NAME.conf")
	fs.StringVar(&o.arch, "arch", "x86-64", "the machines' architecture: x86-64 or arm64")
}

func newButaneCmd(d *deps) *cobra.Command {
	o := &butaneOptions{}
	cmd := &cobra.Command{
		Use:   "butane [flags] NAME:FILE...",
		Short: "Print a Butane config installing sysexts at provisioning time",
		Long: `butane prints a Butane config (variant flatcar, version ` + provision.ButaneVersion + `) that
installs the same sysexts as a bake, but at provisioning time on a stock
Flatcar image: each FILE is downloaded from BAKERY-URL/FILE to
/opt/extensions/NAME/FILE and linked as /etc/extensions/NAME.raw; --mask
links /etc/extensions/NAME.raw to /dev/null. With --sysupdate the config
also downloads BAKERY-URL/NAME.conf to /etc/sysupdate.NAME.d/NAME.conf,
writes /etc/sysupdate.d/noop.conf, enables systemd-sysupdate.timer and adds
systemd-sysupdate.service drop-ins running "systemd-sysupdate -C NAME
update" and restarting systemd-sysext afterwards.

FILE names the bakery's file (NAME-VERSION-ARCH.raw). When FILE exists
locally it is checked with "sysext check" against a Flatcar host of --arch
and its sha256 becomes the download's verification hash, so the machine
accepts only those bytes. Transpile the output with
"butane --strict < config.bu > config.ign".` + exitStatusHelp,
		Example: `  bake-os butane wasmtime:wasmtime-24.0.0-x86-64.raw --sysupdate > config.bu
  bake-os butane docker:docker-24.0.9-x86-64.raw \
    --mask docker-flatcar --mask containerd-flatcar`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runButane(cmd, o, d, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runButane(_ *cobra.Command, o *butaneOptions, d *deps, args []string) error {
	arch, err := flatcar.ParseArch(o.arch)
	if err != nil {
		return usageError{err}
	}
	if len(args) == 0 && len(o.masks) == 0 {
		return usagef("nothing to provision: give NAME:FILE arguments or --mask (see --help)")
	}
	for _, m := range o.masks {
		if err := sysext.ValidName(m); err != nil {
			return usageError{fmt.Errorf("--mask: %w", err)}
		}
	}
	var exts []provision.ButaneSysext
	for _, a := range args {
		name, file, ok := strings.Cut(a, ":")
		if !ok || file == "" {
			return usagef("argument %q: want NAME:FILE", a)
		}
		if err := sysext.ValidName(name); err != nil {
			return usageError{err}
		}
		s := provision.ButaneSysext{Name: name, File: filepath.Base(file)}
		local := absPath(d.cwd, file)
		switch st, err := os.Stat(local); {
		case err == nil && st.Mode().IsRegular():
			if err := checkForButane(local, name, arch); err != nil {
				return err
			}
			if s.SHA256, err = sha256sums.File(local); err != nil {
				return err
			}
		case err == nil:
			return fmt.Errorf("sysext %s: %s is not a regular file", name, file)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("sysext %s: %w", name, err)
		case strings.Contains(file, "/"):
			return fmt.Errorf("sysext %s: %s does not exist (give the bakery's file name, or a local copy to verify)", name, file)
		default:
			if other := wrongArch(s.File, arch); other != "" {
				return usagef("sysext %s: %s is for %s, not --arch %s", name, s.File, other, arch)
			}
		}
		exts = append(exts, s)
	}
	out, err := provision.Butane(provision.ButaneOptions{Sysexts: exts, Masks: o.masks, Sysupdate: o.sysupdate,
		BakeryURL: o.bakeryURL, NoopConf: sysext.NoopConf})
	if err != nil {
		return usageError{err}
	}
	return printResult(d.stdout, d.g.json, map[string]string{"butane": string(out)}, func(w io.Writer) {
		w.Write(out)
	})
}

// checkForButane refuses a local sysext a Flatcar of arch would not merge
// under name.
func checkForButane(file, name string, arch flatcar.Arch) error {
	r, err := sysext.Check(file, sysext.CheckOptions{Name: name, Host: sysext.FlatcarHost(arch, "")})
	if err != nil {
		return fmt.Errorf("sysext %s: %w", name, err)
	}
	if !r.Merges {
		for _, f := range r.Findings {
			if f.Verdict == sysext.VerdictRefused {
				return fmt.Errorf("sysext %s (%s): %s: %s (see bake-os sysext check)", name, file, f.Check, f.Message)
			}
		}
	}
	return nil
}

// wrongArch returns the other arch a bakery file name (NAME-VERSION-ARCH.raw)
// is for, or "".
func wrongArch(file string, arch flatcar.Arch) string {
	for _, a := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		if a != arch && strings.HasSuffix(file, "-"+string(a)+".raw") {
			return string(a)
		}
	}
	return ""
}
