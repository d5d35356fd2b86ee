package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

func absPath(cwd, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(cwd, p)
}

// sourceDateEpoch returns $SOURCE_DATE_EPOCH, or 0 when unset or invalid.
func sourceDateEpoch() int64 {
	n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// printPaths prints the paths a command wrote, one a line, or with --json
// as {"KEY": PATH} ("files": a list).
func printPaths(d *deps, key string, paths ...string) error {
	var v any = paths
	if key != "files" && len(paths) == 1 {
		v = paths[0]
	}
	return printResult(d.stdout, d.g.json, map[string]any{key: v}, func(w io.Writer) {
		for _, p := range paths {
			fmt.Fprintln(w, p)
		}
	})
}
