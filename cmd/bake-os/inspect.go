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
	fmt.Fprintln(w, "\nExtensions (/etc/extensions):")
	if len(in.Extensions) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, e := range in.Extensions {
		switch {
		case e.Masked:
			fmt.Fprintf(w, "  %s.raw -> /dev/null (masked)\n", e.Name)
		case e.Error != "":
			fmt.Fprintf(w, "  %s.raw -> %s (%s)\n", e.Name, e.Target, e.Error)
		default:
			keys := make([]string, 0, len(e.Release))
			for k := range e.Release {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+e.Release[k])
			}
			fmt.Fprintf(w, "  %s.raw -> %s [%s]\n", e.Name, e.Target, strings.Join(kv, " "))
		}
	}
	fmt.Fprintln(w, "\nSysupdate configs:")
	if len(in.Sysupdate) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, s := range in.Sysupdate {
		fmt.Fprintf(w, "  %s\n", s.Path)
	}
}
