// Command benchimage makes (or finds in its cache) the inputs of the
// end-to-end benchmarks and prints their paths as shell assignments:
//
//	eval "$(go run ./internal/cmd/benchimage)"
//	# IMAGE_DIR IMAGE BZ2 OEM EXT EXT2 EXT3
//
// The cache is -dir, default ${BENCH_DIR:-/var/tmp/bake-os-bench}.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"

	"github.com/bake-os/bake-os/internal/benchimage"
)

func main() {
	dir := os.Getenv("BENCH_DIR")
	if dir == "" {
		dir = "/var/tmp/bake-os-bench"
	}
	var o benchimage.Options
	var usrMB, kernelMB int64
	flag.StringVar(&o.Dir, "dir", dir, "cache directory")
	flag.StringVar(&o.Version, "version", "4593.2.5", "Flatcar version")
	flag.Int64Var(&usrMB, "usr-mb", 560, "MB of data stored in USR-A")
	flag.Int64Var(&kernelMB, "kernel-mb", 50, "MB of the ESP kernel")
	flag.BoolVar(&o.Raw, "raw", false, "store USR-A files uncompressed (bzip2 shrinks them ~3x) instead of zstd-compressed like Flatcar's btrfs")
	flag.BoolVar(&o.Force, "force", false, "remake cached files")
	flag.Parse()
	o.USRBytes, o.KernelBytes = usrMB<<20, kernelMB<<20
	o.Log = func(m string) { fmt.Fprintln(os.Stderr, "benchimage:", m) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := benchimage.Ensure(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchimage:", err)
		os.Exit(1)
	}
	fmt.Printf("IMAGE_DIR=%s\nIMAGE=%s\nBZ2=%s\nOEM=%s\nEXT=%s\n", q(r.Dir), q(r.Image), q(r.Bzip2), q(r.OEM), q(r.Ext))
	for i, e := range r.Extras {
		fmt.Printf("EXT%d=%s\n", i+2, q(e))
	}
}

func q(s string) string { return strconv.Quote(s) }
