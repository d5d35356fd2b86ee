package gpt_test

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/testutil"
)

// smallDisk makes a 16 MiB sparse GPT disk with sgdisk: four partitions
// named like Flatcar's first four, a gap, and the standard 128 entries.
func smallDisk(t testing.TB) string {
	t.Helper()
	testutil.RequireTool(t, "sgdisk")
	img := filepath.Join(t.TempDir(), "disk.bin")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "sgdisk",
		"-n", "1:2048:+2M", "-c", "1:EFI-SYSTEM", "-t", "1:ef00",
		"-n", "2:0:+1M", "-c", "2:BIOS-BOOT", "-t", "2:ef02",
		"-n", "3:0:+4M", "-c", "3:USR-A",
		"-n", "4:0:+4M", "-c", "4:USR-B",
		img)
	return img
}

// gptCopy is one copy of the table as read from the disk: the header
// sector and the entry array, with where they were found.
type gptCopy struct {
	hdr, ent       []byte
	hdrOff, entOff int64
}

// patch reads both copies of the table of img, lets fn change them, and
// writes them back with every CRC recomputed, so that only the rule fn
// breaks is broken. The arrays are re-read and re-written at the
// locations the unpatched headers gave.
func patch(t *testing.T, img string, fn func(prim, back *gptCopy)) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	last := st.Size()/512 - 1
	read := func(lba int64) *gptCopy {
		c := &gptCopy{hdr: make([]byte, 512), hdrOff: lba * 512}
		if _, err := f.ReadAt(c.hdr, c.hdrOff); err != nil {
			t.Fatal(err)
		}
		n := binary.LittleEndian.Uint32(c.hdr[80:]) * binary.LittleEndian.Uint32(c.hdr[84:])
		c.ent = make([]byte, n)
		c.entOff = int64(binary.LittleEndian.Uint64(c.hdr[72:])) * 512
		if _, err := f.ReadAt(c.ent, c.entOff); err != nil {
			t.Fatal(err)
		}
		return c
	}
	prim, back := read(1), read(last)
	fn(prim, back)
	for _, c := range []*gptCopy{prim, back} {
		if _, err := f.WriteAt(c.ent, c.entOff); err != nil {
			t.Fatal(err)
		}
		if n := uint64(binary.LittleEndian.Uint32(c.hdr[80:])) * uint64(binary.LittleEndian.Uint32(c.hdr[84:])); n <= uint64(len(c.ent)) {
			binary.LittleEndian.PutUint32(c.hdr[88:], crc32.ChecksumIEEE(c.ent[:n]))
		}
		size := min(max(binary.LittleEndian.Uint32(c.hdr[12:]), 92), 512)
		binary.LittleEndian.PutUint32(c.hdr[16:], 0)
		binary.LittleEndian.PutUint32(c.hdr[16:], crc32.ChecksumIEEE(c.hdr[:size]))
		if _, err := f.WriteAt(c.hdr, c.hdrOff); err != nil {
			t.Fatal(err)
		}
	}
}

// Header field offsets and entry field offsets (UEFI 2.10 §5.3).
const (
	hSize, hMyLBA, hAltLBA, hFirst, hLast, hGUID, hEntLBA, hCount, hEntSize = 12, 24, 32, 40, 48, 56, 72, 80, 84
	eFirst, eLast                                                           = 32, 40
)

func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func get64(b []byte, off int) uint64    { return binary.LittleEndian.Uint64(b[off:]) }

// entry returns partition n's entry (1-based) in a 128-byte-entry array.
func entry(c *gptCopy, n int) []byte { return c.ent[(n-1)*128 : n*128] }

// both applies fn to both copies' headers.
func both(fn func(h []byte)) func(p, b *gptCopy) {
	return func(p, b *gptCopy) { fn(p.hdr); fn(b.hdr) }
}

// entries applies fn to both copies' entry arrays.
func entries(fn func(c *gptCopy)) func(p, b *gptCopy) {
	return func(p, b *gptCopy) { fn(p); fn(b) }
}

// TestValidateRefusesEachRule breaks one GPT rule at a time on a real
// sgdisk disk, with CRCs recomputed, and expects the refusal naming that
// rule.
func TestValidateRefusesEachRule(t *testing.T) {
	base := smallDisk(t)
	if out := testutil.Run(t, "sgdisk", "-v", base); !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v on the fixture: %s", out)
	}
	d, err := gpt.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Partitions) != 4 {
		t.Fatalf("fixture has %d partitions", len(d.Partitions))
	}
	const last = 16<<20/512 - 1
	cases := []struct {
		name   string
		fn     func(p, b *gptCopy)
		want   string
		judged bool // sgdisk -v also finds a problem
	}{
		{"header size too small", both(func(h []byte) { put32(h, hSize, 91) }), "invalid size 91", false},
		{"header size beyond sector", both(func(h []byte) { put32(h, hSize, 513) }), "invalid size 513", false},
		{"entry size not a multiple of 128", both(func(h []byte) { put32(h, hEntSize, 130) }), "entries of 130 bytes", false},
		{"entry size too small", both(func(h []byte) { put32(h, hEntSize, 64) }), "entries of 64 bytes", false},
		{"entry size huge", both(func(h []byte) { put32(h, hEntSize, 0xffffff80) }), "entries of 4294967168 bytes", false},
		{"no entries", both(func(h []byte) { put32(h, hCount, 0) }), "has 0 entries", false},
		{"too many entries", both(func(h []byte) { put32(h, hCount, 1025) }), "has 1025 entries", false},
		{"entry count huge", both(func(h []byte) { put32(h, hCount, 0xffffffff) }), "has 4294967295 entries", false},
		{"entry array beyond the disk", func(p, b *gptCopy) { put64(p.hdr, hEntLBA, last+100) }, "primary GPT invalid: GPT entry array at LBA 32867 (32 sectors) is outside the disk", false},
		{"entry array on the primary header", func(p, b *gptCopy) { put64(p.hdr, hEntLBA, 1) }, "entry array at LBA 1", false},
		{"entry array over the backup header", func(p, b *gptCopy) { put64(b.hdr, hEntLBA, last-16) }, "backup GPT invalid: GPT entry array at LBA 32751", false},
		{"entry array in the usable range", func(p, b *gptCopy) { put64(p.hdr, hEntLBA, 2048) }, "entry array at LBAs 2048-2079 overlaps the usable range 34-32734", false},
		{"last usable beyond the disk", both(func(h []byte) { put64(h, hLast, last+8) }), "last usable LBA 32775 is outside the disk", false},
		{"last usable on the backup header", both(func(h []byte) { put64(h, hLast, last) }), "last usable LBA 32767 is outside the disk", false},
		{"first usable after last usable", both(func(h []byte) { put64(h, hFirst, 32000); put64(h, hLast, 31000) }), "first usable LBA 32000 is after last usable LBA 31000", false},
		{"first usable on the primary header", both(func(h []byte) { put64(h, hFirst, 1) }), "first usable LBA 1 overlaps", false},
		{"partition ends before it starts", entries(func(c *gptCopy) { e := entry(c, 3); put64(e, eLast, get64(e, eFirst)-1) }),
			"GPT partition 3 (USR-A) ends (LBA 8191) before it starts (LBA 8192)", true},
		{"partition beyond last usable", entries(func(c *gptCopy) { put64(entry(c, 4), eLast, 32735) }),
			"GPT partition 4 (USR-B) (LBAs 16384-32735) lies outside the usable range 34-32734", true},
		{"partition before first usable", entries(func(c *gptCopy) { put64(entry(c, 1), eFirst, 33) }),
			"GPT partition 1 (EFI-SYSTEM) (LBAs 33-6143) lies outside the usable range", true},
		{"partitions overlap", entries(func(c *gptCopy) { put64(entry(c, 4), eFirst, get64(entry(c, 3), eLast)) }),
			"GPT partition 3 (USR-A) overlaps partition 4 (USR-B)", true},
		{"partition inside another", entries(func(c *gptCopy) {
			copy(entry(c, 5), entry(c, 2))
			put64(entry(c, 5), eFirst, 5000)
			put64(entry(c, 5), eLast, 5001)
			copy(entry(c, 5)[56:], []byte{'X', 0, 0, 0})
		}), "GPT partition 1 (EFI-SYSTEM) overlaps partition 5 (X)", true},
		{"copies disagree on an entry", func(p, b *gptCopy) { put64(entry(p, 4), eLast, get64(entry(p, 4), eLast)-8) }, "primary and backup GPT disagree", false},
		{"copies disagree on the disk GUID", func(p, b *gptCopy) { b.hdr[hGUID] ^= 1 }, "primary and backup GPT disagree", false},
		{"backup does not point at the primary", func(p, b *gptCopy) { put64(b.hdr, hAltLBA, 2) }, "primary and backup GPT disagree", false},
		{"primary not at its LBA", func(p, b *gptCopy) { put64(p.hdr, hMyLBA, 2) }, "says it is at LBA 2", false},
		{"backup not at the end", func(p, b *gptCopy) { put64(p.hdr, hAltLBA, last-1) }, "backup GPT is at LBA 32766, not at the last LBA 32767", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			testutil.Run(t, "cp", "--sparse=always", base, img)
			patch(t, img, c.fn)
			err := gpt.Validate(img)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "CRC") || strings.Contains(err.Error(), "\n") {
				t.Errorf("not the one-line refusal of the rule under test: %v", err)
			}
			if c.judged {
				if out, _ := exec.Command("sgdisk", "-v", img).CombinedOutput(); strings.Contains(string(out), "No problems found") {
					t.Errorf("sgdisk -v finds no problem: the defect was not planted")
				}
			}
		})
	}
}

// TestValidateAcceptsSaneVariants: the rules do not refuse legal tables
// (fewer entries, a sector-sized header).
func TestValidateAcceptsSaneVariants(t *testing.T) {
	base := smallDisk(t)
	for name, fn := range map[string]func(p, b *gptCopy){
		"64 entries": both(func(h []byte) { put32(h, hCount, 64) }),
		"header of a whole sector": func(p, b *gptCopy) {
			put32(p.hdr, hSize, 512)
			put32(b.hdr, hSize, 512)
		},
	} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			testutil.Run(t, "cp", "--sparse=always", base, img)
			patch(t, img, fn)
			d, err := gpt.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := d.ByNumber(3); err != nil || p.Label != "USR-A" || p.FirstLBA != 8192 {
				t.Errorf("partition 3: %+v %v", p, err)
			}
		})
	}
}

// TestValidateAllocatesNoMoreThanTheBound: a header claiming 1024 entries
// of 4 GiB each (CRC correct) is refused without allocating from it.
func TestValidateAllocatesNoMoreThanTheBound(t *testing.T) {
	base := smallDisk(t)
	patch(t, base, both(func(h []byte) { put32(h, hCount, 1024); put32(h, hEntSize, 0xfffff000) }))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := gpt.Validate(base)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "entries of 4294963200 bytes") {
		t.Fatalf("error %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes reading a refused header", n)
	}
}
