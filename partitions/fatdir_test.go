package partitions_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/partitions"
)

// fatImage makes a 40 MiB FAT32 filesystem with mkfs.vfat and fills
// EFI/boot with mtools, as testimage makes the ESP; extra names go there
// too.
func fatImage(t *testing.T, extra ...string) string {
	t.Helper()
	testutil.RequireTool(t, "mkfs.vfat", "mmd", "mcopy", "mdir")
	img := filepath.Join(t.TempDir(), "esp.img")
	testutil.Run(t, "mkfs.vfat", "-C", "-F", "32", "-n", "EFI-SYSTEM", img, "40960")
	src := filepath.Join(t.TempDir(), "bootx64.efi")
	os.WriteFile(src, []byte("fake EFI loader\n"), 0o644)
	mtools(t, "mmd", "-i", img, "::/EFI", "::/EFI/boot")
	mtools(t, "mcopy", "-i", img, src, "::/EFI/boot/bootx64.efi")
	for _, n := range extra {
		mtools(t, "mcopy", "-i", img, src, "::/EFI/boot/"+n)
	}
	return img
}

func mtools(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

func fatDir(t *testing.T, img string, path ...string) ([]partitions.FATEntry, error) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	return partitions.FATDir(f, 0, st.Size(), path...)
}

// TestFATDirMatchesMtools lists a directory spanning several clusters and
// compares the short names with mdir's.
func TestFATDirMatchesMtools(t *testing.T) {
	var extra []string
	for i := 0; i < 40; i++ { // 40 long names: over one 512-byte cluster
		extra = append(extra, "loader-with-a-long-name-"+string(rune('a'+i%26))+string(rune('a'+i/26))+".efi")
	}
	img := fatImage(t, extra...)
	got, err := fatDir(t, img, "efi", "BOOT")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		if e.Dir {
			t.Errorf("%s listed as a directory", e.Name)
		}
		names = append(names, e.Name)
	}
	sort.Strings(names)
	var want []string
	for _, l := range strings.Split(mtools(t, "mdir", "-a", "-i", img, "::/EFI/boot"), "\n") {
		// "LOADER~1 EFI        16 2024-01-01  12:00  loader-....efi"
		f := strings.Fields(l)
		if len(f) < 3 || f[0] == "." || f[0] == ".." || !isNumber(f[2]) || isNumber(f[0]) {
			continue
		}
		want = append(want, strings.ToUpper(f[0]+"."+f[1]))
	}
	sort.Strings(want)
	if strings.Join(names, " ") != strings.Join(want, " ") || len(names) != 41 {
		t.Errorf("FATDir: %v\nmdir:   %v", names, want)
	}
	if got, err := fatDir(t, img, "EFI", "nope"); err != nil || got != nil {
		t.Errorf("missing directory: %v %v", got, err)
	}
}

// TestFATDirRefusesHostileFilesystems: a cyclic chain, a chain leaving the
// filesystem and a FAT size that does not fit end in an error.
func TestFATDirRefusesHostileFilesystems(t *testing.T) {
	// A directory of several clusters: the first has no end marker, so a
	// chain pointing back to it loops.
	var extra []string
	for i := 0; i < 40; i++ {
		extra = append(extra, "loader-with-a-long-name-"+string(rune('a'+i%26))+string(rune('a'+i/26))+".efi")
	}
	base := fatImage(t, extra...)
	boot, err := fatDir(t, base, "EFI")
	if err != nil || len(boot) != 1 || boot[0].Name != "BOOT" {
		t.Fatalf("%v %v", boot, err)
	}
	cluster := boot[0].Cluster
	put16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	put32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	bs := make([]byte, 512)
	if f, err := os.Open(base); err == nil {
		f.ReadAt(bs, 0)
		f.Close()
	}
	fat := int64(binary.LittleEndian.Uint16(bs[14:])) * int64(binary.LittleEndian.Uint16(bs[11:]))
	for name, c := range map[string]struct {
		off  int64
		data []byte
		want string
	}{
		"cyclic chain":                  {fat + 4*int64(cluster), put32(cluster), "loops"},
		"chain out of range":            {fat + 4*int64(cluster), put32(0x0ffffff0), "outside"},
		"FAT larger than the partition": {36, put32(0xffffffff), "do not fit"},
		"sector size":                   {11, put16(100), "100 bytes per sector"},
		"root cluster":                  {44, put32(0x0fffffff), "root directory at cluster"},
	} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "esp.img")
			testutil.Run(t, "cp", "--sparse=always", base, img)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(c.data, c.off)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			_, err = fatDir(t, img, "EFI", "boot")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// tinyFAT32 builds a 4 KiB FAT32 filesystem in memory (512-byte
// clusters): root -> EFI -> BOOT -> BOOTX64.EFI.
func tinyFAT32() []byte {
	b := make([]byte, 8*512)
	b[510], b[511] = 0x55, 0xaa
	binary.LittleEndian.PutUint16(b[11:], 512)
	b[13] = 1                                // sectors per cluster
	binary.LittleEndian.PutUint16(b[14:], 1) // reserved
	b[16] = 1                                // FATs
	binary.LittleEndian.PutUint32(b[36:], 1) // sectors per FAT
	binary.LittleEndian.PutUint32(b[44:], 2) // root cluster
	fat := b[512:1024]
	for i, v := range []uint32{0x0ffffff8, 0x0fffffff, 0x0fffffff, 0x0fffffff, 0x0fffffff, 0x0fffffff} {
		binary.LittleEndian.PutUint32(fat[4*i:], v)
	}
	entry := func(cluster int, slot int, name string, attr byte, first uint16) {
		e := b[1024+(cluster-2)*512+slot*32:]
		copy(e[:11], name)
		e[11] = attr
		binary.LittleEndian.PutUint16(e[26:], first)
	}
	entry(2, 0, "EFI        ", 0x10, 3)
	entry(3, 0, ".          ", 0x10, 3)
	entry(3, 1, "BOOT       ", 0x10, 4)
	entry(4, 0, "BOOTX64 EFI", 0x20, 5)
	return b
}

// FuzzFATDir: no input makes FATDir panic, allocate beyond its bounds or
// walk forever; every name it returns is a short name of at most 12 bytes.
func FuzzFATDir(f *testing.F) {
	f.Add(tinyFAT32())
	f.Fuzz(func(t *testing.T, img []byte) {
		list, err := partitions.FATDir(bytes.NewReader(img), 0, int64(len(img)), "EFI", "BOOT")
		if err != nil {
			return
		}
		if len(list) > 1<<20/32 {
			t.Fatalf("%d entries from one directory", len(list))
		}
		for _, e := range list {
			if len(e.Name) > 12 {
				t.Fatalf("name %q", e.Name)
			}
		}
	})
}

func TestTinyFAT32Seed(t *testing.T) {
	img := tinyFAT32()
	list, err := partitions.FATDir(bytes.NewReader(img), 0, int64(len(img)), "efi", "boot")
	if err != nil || len(list) != 1 || list[0].Name != "BOOTX64.EFI" || list[0].Dir {
		t.Fatalf("%v %v", list, err)
	}
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
