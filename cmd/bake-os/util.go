package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
)

func absPath(cwd, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(cwd, p)
}

// sourceDateEpoch is the one reader of $SOURCE_DATE_EPOCH; commands pass
// its value down as their Epoch option. Unset or empty is 0 (no fixed
// time); a value that is not seconds since 1970 fitting the 32-bit times
// of squashfs and ext4 is a usage error naming the variable.
func sourceDateEpoch() (int64, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxUint32 {
		return 0, usagef("invalid SOURCE_DATE_EPOCH %q: set it to seconds since 1970 (0 to %d) or unset it", v, uint32(math.MaxUint32))
	}
	return n, nil
}

// epochOption is --epoch when given, else $SOURCE_DATE_EPOCH.
func epochOption(cmd *cobra.Command, flag int64) (int64, error) {
	if cmd.Flags().Changed("epoch") {
		return flag, nil
	}
	return sourceDateEpoch()
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
