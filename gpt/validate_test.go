package gpt_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/gpt/gpttest"
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

type gptCopy = gpttest.Copy

func patch(t *testing.T, img string, fn func(prim, back *gptCopy)) {
	t.Helper()
	if err := gpttest.Patch(img, fn); err != nil {
		t.Fatal(err)
	}
}

const (
	hSize, hMyLBA, hAltLBA, hFirst, hLast, hGUID, hEntLBA, hCount, hEntSize = gpttest.HeaderSize, gpttest.MyLBA, gpttest.AltLBA,
		gpttest.FirstUsable, gpttest.LastUsable, gpttest.DiskGUID, gpttest.EntriesLBA, gpttest.NumEntries, gpttest.EntrySize
	eFirst, eLast = gpttest.EntryFirstLBA, gpttest.EntryLastLBA
)

var put32, put64, get64 = gpttest.Put32, gpttest.Put64, gpttest.Get64

func entry(c *gptCopy, n int) []byte { return c.Entry(n) }

// both applies fn to both copies' headers.
func both(fn func(h []byte)) func(p, b *gptCopy) {
	return func(p, b *gptCopy) { fn(p.Header); fn(b.Header) }
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
		{"entry array beyond the disk", func(p, b *gptCopy) { put64(p.Header, hEntLBA, last+100) }, "primary GPT invalid: GPT entry array at LBA 32867 (32 sectors) is outside the disk", false},
		{"entry array on the primary header", func(p, b *gptCopy) { put64(p.Header, hEntLBA, 1) }, "entry array at LBA 1", false},
		{"entry array over the backup header", func(p, b *gptCopy) { put64(b.Header, hEntLBA, last-16) }, "backup GPT invalid: GPT entry array at LBA 32751", false},
		{"entry array in the usable range", func(p, b *gptCopy) { put64(p.Header, hEntLBA, 2048) }, "entry array at LBAs 2048-2079 overlaps the usable range 34-32734", false},
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
		{"copies disagree on an entry", func(p, b *gptCopy) { put64(entry(p, 4), eLast, get64(entry(p, 4), eLast)-8) }, "primary and backup GPT disagree on the partition entries", false},
		{"copies disagree on the entry count", func(p, b *gptCopy) { put32(b.Header, hCount, 64) }, "primary and backup GPT disagree on the partition entries", false},
		{"copies disagree on the disk GUID", func(p, b *gptCopy) { b.Header[hGUID] ^= 1 }, "primary and backup GPT disagree on the disk GUID", false},
		{"copies disagree on the usable range", func(p, b *gptCopy) { put64(b.Header, hLast, get64(b.Header, hLast)-1) }, "disagree on the usable range (34-32734, 34-32733)", false},
		{"backup does not point at the primary", func(p, b *gptCopy) { put64(b.Header, hAltLBA, 2) }, "the backup names LBA 2 as the primary's", false},
		{"copies share one entry array", func(p, b *gptCopy) { put64(b.Header, hEntLBA, 2) }, "primary and backup GPT entry arrays overlap", false},
		{"primary not at its LBA", func(p, b *gptCopy) { put64(p.Header, hMyLBA, 2) }, "says it is at LBA 2", false},
		{"backup not at the end", func(p, b *gptCopy) { put64(p.Header, hAltLBA, last-1) }, "backup GPT is at LBA 32766, not at the last LBA 32767", false},
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
			put32(p.Header, hSize, 512)
			put32(b.Header, hSize, 512)
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

// TestGrowRefusesToOverlap: growing an entry over the one after it is
// refused before the file changes.
func TestGrowRefusesToOverlap(t *testing.T) {
	img := smallDisk(t)
	before := testutil.Run(t, "sgdisk", "-p", img)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = gpt.Grow(f, 64<<20/512, 3, 8192+1)
	if err == nil || !strings.Contains(err.Error(), "partition 3 would overlap partition 4 (USR-B)") {
		t.Fatalf("error %v", err)
	}
	if st, _ := f.Stat(); st.Size() != 16<<20 {
		t.Errorf("file resized to %d", st.Size())
	}
	if after := testutil.Run(t, "sgdisk", "-p", img); after != before {
		t.Errorf("table changed:\n%s\n%s", before, after)
	}
}
