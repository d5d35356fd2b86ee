// Command bz2cat decompresses a bzip2 file into a sparse file with
// decompress.Bzip2ToSparse; used by scripts/bench-bz2.sh.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"

	"github.com/bake-os/bake-os/decompress"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bz2cat IN.bz2 OUT [workers]")
		os.Exit(2)
	}
	if p := os.Getenv("BZ2CAT_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	in, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := os.Create(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	o := decompress.Options{Name: os.Args[1]}
	if len(os.Args) > 3 {
		o.Workers, _ = strconv.Atoi(os.Args[3])
	}
	n, err := decompress.Bzip2ToSparse(context.Background(), in, out, o)
	if err == nil {
		err = out.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, n)
}
