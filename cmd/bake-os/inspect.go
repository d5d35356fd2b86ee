package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bake-os/bake-os/bake"
)

type inspectOptions struct{ json bool }

func newInspectCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's partitions, extensions, sysupdate configs, masks",
		Long:  "inspect reads a Flatcar disk image without changing it." + exitStatusHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd, &inspectOptions{json: d.g.json}, d, args[0])
		},
	}
	return cmd
}

func runInspect(cmd *cobra.Command, o *inspectOptions, d *deps, image string) error {
	in, err := bake.Inspect(cmd.Context(), absPath(d.cwd, image))
	if err != nil {
		return err
	}
	return printResult(d.stdout, o.json, in, func(w io.Writer) { printInspection(w, in) })
}

func printInspection(w io.Writer, in *bake.Inspection) {
	fmt.Fprintf(w, "Image %s (%d bytes, disk GUID %s)\n\n", in.Image, in.Size, in.DiskGUID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tLABEL\tTYPE\tSTART\tSIZE\tFS")
	for _, p := range in.Partitions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d MiB\t%s\n", p.Number, p.Label, p.Type, p.Start, p.Size>>20, p.Filesystem)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nExtensions (/etc/extensions, /var/lib/extensions):")
	if len(in.Extensions) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, e := range in.Extensions {
		switch {
		case e.Masked:
			fmt.Fprintf(w, "  %s -> /dev/null (masked)\n", e.Link)
		case e.Error != "":
			fmt.Fprintf(w, "  %s -> %s (%s)\n", e.Link, e.Target, e.Error)
		default:
			fmt.Fprintf(w, "  %s -> %s [%s]\n", e.Link, e.Target, releaseLine(e.Release))
		}
	}
	fmt.Fprintln(w, "\nOEM sysexts (OEM /sysext):")
	switch {
	case in.OEMError != "":
		fmt.Fprintf(w, "  (%s)\n", in.OEMError)
	case len(in.OEMSysexts) == 0:
		fmt.Fprintln(w, "  (none)")
	}
	for _, e := range in.OEMSysexts {
		if e.Error != "" {
			fmt.Fprintf(w, "  %s (%s)\n", e.Path, e.Error)
			continue
		}
		fmt.Fprintf(w, "  %s [%s]\n", e.Path, releaseLine(e.Release))
	}
	if len(in.ActiveOEM) > 0 {
		fmt.Fprintf(w, "  active OEM: %s\n", strings.Join(in.ActiveOEM, ", "))
	}
	fmt.Fprintln(w, "\nIgnition config (OEM /config.ign):")
	switch ig := in.Ignition; {
	case ig == nil:
		fmt.Fprintln(w, "  (none)")
	case ig.Error != "":
		fmt.Fprintf(w, "  %s, %d bytes (%s)\n", ig.Path, ig.Size, ig.Error)
	default:
		fmt.Fprintf(w, "  %s, %d bytes, spec %s\n", ig.Path, ig.Size, ig.Version)
	}
	printFlatcarExtensions(w, in.FlatcarExtensions)
	fmt.Fprintln(w, "\nKernel arguments (OEM /grub.cfg linux_append):")
	switch {
	case in.KernelArgs == nil:
		fmt.Fprintln(w, "  (no grub.cfg)")
	case len(in.KernelArgs) == 0:
		fmt.Fprintln(w, "  (none)")
	default:
		fmt.Fprintf(w, "  %s\n", strings.Join(in.KernelArgs, " "))
	}
	fmt.Fprintln(w, "\nSysupdate configs:")
	if len(in.Sysupdate) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, s := range in.Sysupdate {
		fmt.Fprintf(w, "  %s\n", s.Path)
	}
}

// releaseLine formats an extension-release as sorted KEY=VALUE pairs.
func releaseLine(rel map[string]string) string {
	keys := make([]string, 0, len(rel))
	for k := range rel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kv := make([]string, 0, len(keys))
	for _, k := range keys {
		kv = append(kv, k+"="+rel[k])
	}
	return strings.Join(kv, " ")
}

// printFlatcarExtensions shows ROOT's enabled-sysext.conf and the
// pre-placed images of Flatcar's optional extensions.
func printFlatcarExtensions(w io.Writer, x *bake.FlatcarExtensionsInfo) {
	fmt.Fprintln(w, "\nFlatcar extensions ("+bake.EnabledSysextConf+"):")
	if x == nil {
		fmt.Fprintln(w, "  (none)")
		return
	}
	if x.Error != "" {
		fmt.Fprintf(w, "  (%s)\n", x.Error)
	}
	for _, l := range []struct {
		what  string
		names []string
	}{{"enabled", x.Enabled}, {"disabled", x.Disabled}, {"pre-placed", x.Images}} {
		if len(l.names) > 0 {
			fmt.Fprintf(w, "  %s: %s\n", l.what, strings.Join(l.names, " "))
		}
	}
}
