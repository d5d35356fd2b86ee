package btrfsfix_test

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/btrfsfix"
	"github.com/bake-os/bake-os/internal/testutil"
)

// TestHostileTreeBlocks: tree blocks with random bytes in their items and
// headers but valid checksums (what a crafted image holds) make Scan and
// Fix return an error or succeed, never panic or loop.
func TestHostileTreeBlocks(t *testing.T) {
	testutil.RequireTool(t, "mkfs.btrfs", "btrfs")
	img := mkfs(t, tree(t))
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Tree blocks: every 4 KiB block whose header names its own address.
	var blocks []int64
	buf := make([]byte, 4096)
	for off := int64(0); off < 128<<20; off += 4096 {
		if _, err := f.ReadAt(buf, off); err != nil {
			break
		}
		if strings.Contains(string(buf[0x20:0x30]), "\x5e\x1f\x0c\x1a") && crc32.Checksum(buf[0x20:], crc32.MakeTable(crc32.Castagnoli)) == binary.LittleEndian.Uint32(buf) {
			blocks = append(blocks, off)
		}
	}
	if len(blocks) < 5 {
		t.Fatalf("found %d tree blocks", len(blocks))
	}
	pristine := map[int64][]byte{}
	saved := append([]int64{0x10000, 64 << 20}, blocks...)
	for _, o := range saved {
		b := make([]byte, 4096)
		f.ReadAt(b, o)
		pristine[o] = b
	}
	rng := rand.New(rand.NewSource(9))
	table := crc32.MakeTable(crc32.Castagnoli)
	for i := 0; i < 300; i++ {
		off := blocks[rng.Intn(len(blocks))]
		orig := make([]byte, 4096)
		f.ReadAt(orig, off)
		bad := append([]byte(nil), orig...)
		for k := 0; k < 1+rng.Intn(8); k++ {
			// Mostly the header's item count and level and the item
			// headers, where lengths and offsets live.
			p := 0x60 + rng.Intn(0x65+25*8-0x60)
			if rng.Intn(3) == 0 {
				p = 0x65 + rng.Intn(4096-0x65)
			}
			bad[p] = byte(rng.Intn(256))
		}
		binary.LittleEndian.PutUint32(bad, crc32.Checksum(bad[0x20:], table))
		f.WriteAt(bad, off)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("iteration %d, block at %d: panic %v", i, off, r)
				}
			}()
			btrfsfix.Scan(img)
			btrfsfix.Fix(img, btrfsfix.Options{HaveEpoch: true, Epoch: 1, Inodes: map[string]btrfsfix.InodePatch{}})
		}()
		// Fix may have rewritten any block: put all back.
		for _, o := range saved {
			f.WriteAt(pristine[o], o)
		}
	}
}
