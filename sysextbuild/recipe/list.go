package recipe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bake-os/bake-os/flatcar"
)

// SourceDescription is the "source" column of `sysext list`: the kind plus
// where versions come from.
func (r Recipe) SourceDescription() string {
	s := string(r.Kind)
	if r.Versions.Repo != "" {
		return s + " (" + r.Versions.Kind + " " + r.Versions.Repo + ")"
	}
	return s + " (" + r.Versions.Kind + ")"
}

// ArchSpellings lists the bakery arches with their upstream spelling
// where it differs: "x86-64=amd64,arm64".
func (r Recipe) ArchSpellings() string {
	var parts []string
	for _, a := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		if sp, ok := r.Arch[a]; ok {
			if sp == "" || sp == string(a) {
				parts = append(parts, string(a))
			} else {
				parts = append(parts, string(a)+"="+sp)
			}
		}
	}
	return strings.Join(parts, ",")
}

// WriteTable writes the `sysext list` table (name, source kind,
// arches, reload, recipe options) of rs to w.
func WriteTable(w io.Writer, rs []Recipe) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tARCHES\tRELOAD\tOPTIONS")
	for _, r := range rs {
		name := r.Name
		if len(r.Aliases) > 0 {
			name += " (" + strings.Join(r.Aliases, ", ") + ")"
		}
		var opts []string
		for _, o := range r.Options {
			opts = append(opts, o.Name)
		}
		if len(opts) == 0 {
			opts = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", name, r.SourceDescription(), r.ArchSpellings(), r.Reload, strings.Join(opts, ","))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing recipe table: %w", err)
	}
	return nil
}
