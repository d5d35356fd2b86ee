// Command convtool writes a raw disk image in one diskfmt format. It exists
// for scripts/bench-diskfmt.sh, which times it against qemu-img; bake-os
// users go through the vendors package instead.
//
//	convtool [-level N] [-workers N] [-size BYTES] [-adapter A] FORMAT SRC DST
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/bake-os/bake-os/vendors/diskfmt"
)

func main() {
	var o diskfmt.Options
	flag.IntVar(&o.Level, "level", 0, "deflate level 1-9 (0: default)")
	flag.IntVar(&o.Workers, "workers", 0, "compressing goroutines (0: all cores)")
	flag.Int64Var(&o.VirtualSize, "size", 0, "virtual size in bytes (0: source size)")
	flag.StringVar(&o.Adapter, "adapter", "", "vmdk adapter")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: convtool [flags] FORMAT SRC DST")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), flag.Arg(2), o); err != nil {
		fmt.Fprintln(os.Stderr, "convtool:", err)
		os.Exit(1)
	}
}

func run(name, srcPath, dstPath string, o diskfmt.Options) error {
	f, err := diskfmt.Lookup(name)
	if err != nil {
		return err
	}
	src, err := os.Open(srcPath)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(dstPath)
	if err != nil {
		return err
	}
	if err := f.Write(context.Background(), src, dst, o); err != nil {
		dst.Close()
		os.Remove(dstPath)
		return err
	}
	return dst.Close()
}
