package gpt

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/bake-os/bake-os/internal/testutil"
)

// seedPart is one entry of a seed table.
type seedPart struct {
	number      int
	first, last uint64
	name        string
}

// seedDisk builds a small GPT disk in memory the way partitioning tools
// lay it out: protective MBR, primary header at LBA 1 with its array at
// LBA 2, backup array just before the backup header at the last LBA.
func seedDisk(sectors uint64, entries uint32, parts []seedPart) []byte {
	const sector = 512
	disk := make([]byte, sectors*sector)
	disk[450], disk[510], disk[511] = 0xee, 0x55, 0xaa
	arraySectors := (uint64(entries)*128 + sector - 1) / sector
	array := make([]byte, uint64(entries)*128)
	for _, p := range parts {
		e := array[(p.number-1)*128 : p.number*128]
		copy(e[0:16], []byte{0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4})
		e[16] = byte(p.number)
		binary.LittleEndian.PutUint64(e[32:], p.first)
		binary.LittleEndian.PutUint64(e[40:], p.last)
		for i, c := range utf16.Encode([]rune(p.name)) {
			binary.LittleEndian.PutUint16(e[56+2*i:], c)
		}
	}
	last := sectors - 1
	header := func(my, alt, arrayLBA uint64) {
		h := disk[my*sector : my*sector+92]
		copy(h, signature)
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], 2+arraySectors)
		binary.LittleEndian.PutUint64(h[48:], last-1-arraySectors)
		h[56] = 1
		binary.LittleEndian.PutUint64(h[72:], arrayLBA)
		binary.LittleEndian.PutUint32(h[80:], entries)
		binary.LittleEndian.PutUint32(h[84:], 128)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(array))
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		copy(disk[arrayLBA*sector:], array)
	}
	header(1, last, 2)
	header(last, 1, last-arraySectors)
	return disk
}

// FuzzReadGPT feeds arbitrary disks to the GPT reader: it must never
// panic, never allocate more than the bound the header limits give, and
// every table it accepts must hold its invariants. Inputs are whole disks
// (34 KiB and up): run it with a short -fuzzminimizetime (e.g. 1x), or
// minimising each new input can take the whole run.
func FuzzReadGPT(f *testing.F) {
	flatcarLike := []seedPart{{1, 40, 59, "EFI-SYSTEM"}, {3, 60, 79, "USR-A"}, {4, 80, 99, "USR-B"}, {9, 100, 120, "ROOT"}}
	f.Add(seedDisk(128, 16, flatcarLike))                                     // 64 KiB, four-sector arrays
	f.Add(seedDisk(128, 128, []seedPart{{1, 34, 60, "A"}, {2, 61, 94, "B"}})) // the usual 128 entries
	f.Add(seedDisk(128, 4, []seedPart{{1, 40, 60, "A"}, {2, 60, 70, "B"}}))   // overlap: refused
	f.Add(seedDisk(128, 4, []seedPart{{1, 40, 130, "A"}}))                    // beyond last usable: refused
	f.Add(seedDisk(68, 1, nil))                                               // smallest disk, no partitions
	f.Fuzz(func(t *testing.T, disk []byte) {
		checkReadGPT(t, disk)
		// Random bytes rarely carry a matching CRC: read the disk again
		// with the CRCs recomputed, so the rules behind them are fuzzed.
		if fixed := bytes.Clone(disk); fixCRCs(fixed) {
			checkReadGPT(t, fixed)
		}
	})
}

// fixCRCs recomputes the entry array and header CRCs of each header in
// disk (at LBA 1 and the last LBA) from its fields, as far as they lie in
// the disk; it reports whether it changed anything.
func fixCRCs(disk []byte) bool {
	changed := false
	for _, lba := range []int{1, len(disk)/512 - 1} {
		if lba < 1 || (lba+1)*512 > len(disk) {
			continue
		}
		h := disk[lba*512 : (lba+1)*512]
		if !bytes.Equal(h[:8], signature) {
			continue
		}
		old := bytes.Clone(h[:MinHeaderSize])
		n := uint64(binary.LittleEndian.Uint32(h[80:])) * uint64(binary.LittleEndian.Uint32(h[84:]))
		if off := binary.LittleEndian.Uint64(h[72:]); off < uint64(len(disk))/512 && n <= uint64(len(disk))-off*512 {
			binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(disk[off*512:off*512+n]))
		}
		size := min(max(binary.LittleEndian.Uint32(h[12:]), MinHeaderSize), 512)
		binary.LittleEndian.PutUint32(h[16:], 0)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:size]))
		changed = changed || !bytes.Equal(old, h[:MinHeaderSize])
	}
	return changed
}

// checkReadGPT reads disk and checks the allocation bound and, when the
// table is accepted, its invariants.
func checkReadGPT(t *testing.T, disk []byte) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := readDisk(bytes.NewReader(disk), int64(len(disk)))
	runtime.ReadMemStats(&after)
	// Two sectors, two arrays of at most MaxEntries*MaxEntrySize, the
	// header copies and the partitions: well under this.
	const bound = 2*MaxEntries*MaxEntrySize + 1<<20
	if n := after.TotalAlloc - before.TotalAlloc; n > bound {
		t.Fatalf("allocated %d bytes for a %d-byte disk", n, len(disk))
	}
	if err != nil {
		return
	}
	h, err := readHeader(bytes.NewReader(disk), 1, 512)
	if err != nil {
		t.Fatalf("accepted a disk whose primary header does not parse: %v", err)
	}
	if h.FirstUsable > h.LastUsable || h.LastUsable >= uint64(len(disk)/512)-1 {
		t.Fatalf("accepted usable range %d-%d on a %d-sector disk", h.FirstUsable, h.LastUsable, len(disk)/512)
	}
	for i, p := range d.Partitions {
		if p.FirstLBA > p.LastLBA || p.FirstLBA < h.FirstUsable || p.LastLBA > h.LastUsable {
			t.Fatalf("accepted partition %d at %d-%d outside %d-%d", p.Number, p.FirstLBA, p.LastLBA, h.FirstUsable, h.LastUsable)
		}
		if p.Offset()+p.Size() > int64(len(disk)) || p.Size() <= 0 {
			t.Fatalf("accepted partition %d beyond the disk", p.Number)
		}
		if i > 0 && d.Partitions[i-1].Number >= p.Number {
			t.Fatalf("partitions not sorted by number")
		}
		for _, q := range d.Partitions[:i] {
			if p.FirstLBA <= q.LastLBA && q.FirstLBA <= p.LastLBA {
				t.Fatalf("accepted partitions %d and %d overlapping", q.Number, p.Number)
			}
		}
	}
}

// TestSeedDisksRead: the fuzz seeds are what they say (accepted or
// refused), so the fuzzer starts from both sides of every rule.
func TestSeedDisksRead(t *testing.T) {
	testutil.RequireTool(t, "sgdisk")
	ok := seedDisk(128, 4, []seedPart{{1, 40, 59, "EFI-SYSTEM"}, {3, 60, 79, "USR-A"}})
	d, err := readDisk(bytes.NewReader(ok), int64(len(ok)))
	if err != nil || len(d.Partitions) != 2 || d.Partitions[1].Label != "USR-A" || d.GUID != "00000001-0000-0000-0000-000000000000" {
		t.Fatalf("%+v %v", d, err)
	}
	for _, disk := range [][]byte{ok, seedDisk(2048, 128, []seedPart{{1, 40, 59, "EFI-SYSTEM"}, {3, 60, 79, "USR-A"}})} {
		img := filepath.Join(t.TempDir(), "seed.bin")
		if err := os.WriteFile(img, disk, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := testutil.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
			t.Errorf("sgdisk -v on a seed: %s", out)
		}
	}
	bad := seedDisk(128, 4, []seedPart{{1, 40, 60, "A"}, {2, 60, 70, "B"}})
	if _, err := readDisk(bytes.NewReader(bad), int64(len(bad))); err == nil || err.Error() != "GPT partition 1 (A) overlaps partition 2 (B)" {
		t.Fatalf("%v", err)
	}
}
