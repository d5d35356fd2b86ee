package sysextbuild

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

// ArchSpellings is the "arches" column: bakery arch=upstream spelling.
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

// WriteRecipeTable writes the `sysext list` table (name, source kind,
// arches, reload) of rs to w.
func WriteRecipeTable(w io.Writer, rs []Recipe) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tARCHES\tRELOAD")
	for _, r := range rs {
		name := r.Name
		if len(r.Aliases) > 0 {
			name += " (" + strings.Join(r.Aliases, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", name, r.SourceDescription(), r.ArchSpellings(), r.Reload)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing recipe table: %w", err)
	}
	return nil
}
