package testutil

import (
	"fmt"
	"testing"
)

// ExtractSectors writes sectors 512-byte sectors of img from firstSector
// on to a new sparse file out, with dd (an extractor independent of the
// code under test). dd moves 1 MiB per call: with bs=512 a 1 GiB OEM
// partition took 2 million read and write calls, 6-8 s on a machine where
// system calls are slow.
func ExtractSectors(t testing.TB, img, out string, firstSector, sectors uint64) {
	t.Helper()
	Run(t, "dd", "if="+img, "of="+out, "bs=1M", "iflag=skip_bytes,count_bytes",
		fmt.Sprintf("skip=%d", firstSector*512), fmt.Sprintf("count=%d", sectors*512), "conv=sparse", "status=none")
}
