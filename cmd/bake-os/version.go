package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version and commit may be set at build time:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=0123abc" ./cmd/bake-os
//
// Unset, they come from the module and VCS information Go embeds.
var (
	version = ""
	commit  = ""
)

// buildInfo says which bake-os this is.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Dirty    bool   `json:"dirty,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					bi.Commit = s.Value
				}
			case "vcs.modified":
				if commit == "" {
					bi.Dirty = s.Value == "true"
				}
			}
		}
	}
	if c, ok := strings.CutSuffix(bi.Commit, "+dirty"); ok {
		bi.Commit, bi.Dirty = c, true
	}
	if bi.Version == "" {
		bi.Version = "devel"
	}
	return bi
}

// String is the one-line form: "v1.2.0 (commit 0123abc+dirty, go1.26.1,
// linux/amd64)".
func (bi buildInfo) String() string {
	c := bi.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	}
	if bi.Dirty {
		c += "+dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", bi.Version, c, bi.Go, bi.Platform)
}

// userAgent names bake-os in HTTP requests.
func userAgent() string { return "bake-os/" + readBuildInfo().Version }

func newVersionCmd(d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of bake-os",
		Long:  "version prints what --version prints; with --json as an object." + exitStatusHelp,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi := readBuildInfo()
			return printResult(d.stdout, d.g.json, bi, func(w io.Writer) { fmt.Fprintln(w, "bake-os "+bi.String()) })
		},
	}
}
