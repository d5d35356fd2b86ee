// Package conformtest is the conformance suite every diskfmt.Format passes:
// it writes a small sparse GPT disk with the format and has qemu-img and
// sgdisk judge the result.
package conformtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/vendors/diskfmt"
)

// SourceSize is the size of the raw disk Run writes.
const SourceSize = 300 << 20

// expect is what qemu-img must report for a format.
type expect struct {
	qemuFormat string // -f name
	createType string // vmdk create type
	check      bool   // qemu-img check supports the format
}

var expects = map[string]expect{
	"raw":         {qemuFormat: "raw"},
	"qcow2":       {qemuFormat: "qcow2", check: true},
	"vmdk":        {qemuFormat: "vmdk", createType: "monolithicSparse", check: true},
	"vmdk-stream": {qemuFormat: "vmdk", createType: "streamOptimized", check: true},
	"vhd":         {qemuFormat: "vpc"},
	"vhd-dynamic": {qemuFormat: "vpc"},
	"vhdx":        {qemuFormat: "vhdx", check: true},
	"parallels":   {qemuFormat: "parallels", check: true},
}

// Run writes a generated sparse GPT disk with f and opts and checks the
// output with qemu-img (info, check, compare), sgdisk after a round trip to
// raw, and determinism (two writes are byte-identical).
func Run(t *testing.T, f diskfmt.Format, opts diskfmt.Options) {
	t.Helper()
	testutil.RequireTool(t, "qemu-img", "sgdisk")
	ex, ok := expects[f.Name()]
	if !ok {
		t.Fatalf("conformtest knows no qemu-img expectations for format %q", f.Name())
	}
	dir := t.TempDir()
	srcPath := filepath.Join(dir, "src.raw")
	MakeDisk(t, srcPath, SourceSize)
	want, err := f.VirtualSize(SourceSize, opts)
	if err != nil {
		t.Fatalf("VirtualSize: %v", err)
	}

	out1 := filepath.Join(dir, "out1."+f.Ext())
	out2 := filepath.Join(dir, "out2."+f.Ext())
	rec := &recorder{}
	if opts.Reporter == nil {
		opts.Reporter = rec
	}
	write(t, f, srcPath, out1, opts)
	if opts.Reporter == rec {
		if rec.total <= 0 || rec.added != rec.total || !rec.done {
			t.Errorf("progress: total %d, added %d, done %v; want added == total > 0 and done", rec.total, rec.added, rec.done)
		}
	}
	// The second write uses another number of workers: the output must
	// not depend on the parallelism either.
	opts2 := opts
	opts2.Workers = 1
	if opts.Workers == 1 {
		opts2.Workers = 3
	}
	write(t, f, srcPath, out2, opts2)
	if !sameFiles(t, out1, out2) {
		t.Errorf("two writes of the same image differ: %s is not deterministic", f.Name())
	}

	// Container facts qemu-img does not report.
	st, err := os.Stat(out1)
	if err != nil {
		t.Fatal(err)
	}
	// Holes stay holes: the output allocates no more than the source plus
	// metadata (the source has allocated zero runs the output skips).
	if a, b := allocated(t, out1), allocated(t, srcPath); a > b+4<<20 {
		t.Errorf("%s allocates %d bytes, the source only %d: runs of zeros were written", f.Name(), a, b)
	}
	if f.Name() == "vhd" && st.Size() != want+512 {
		t.Errorf("fixed VHD is %d bytes, want disk size %d + 512-byte footer", st.Size(), want)
	}
	if ex.createType != "" {
		adapter := opts.Adapter
		if adapter == "" {
			adapter = "ide"
		}
		head := make([]byte, 64<<10)
		fh, err := os.Open(out1)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.ReadFull(fh, head)
		fh.Close()
		if line := fmt.Sprintf("ddb.adapterType = %q", adapter); !bytes.Contains(head[:n], []byte(line)) {
			t.Errorf("VMDK descriptor lacks %s", line)
		}
	}

	// qemu-img info
	var info struct {
		Format         string `json:"format"`
		VirtualSize    int64  `json:"virtual-size"`
		FormatSpecific struct {
			Data struct {
				CreateType string `json:"create-type"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal([]byte(testutil.Run(t, "qemu-img", "info", "--output=json", "-f", ex.qemuFormat, out1)), &info); err != nil {
		t.Fatalf("parsing qemu-img info: %v", err)
	}
	if info.Format != ex.qemuFormat {
		t.Errorf("qemu-img info format = %q, want %q", info.Format, ex.qemuFormat)
	}
	if info.VirtualSize != want {
		t.Errorf("qemu-img info virtual-size = %d, want %d", info.VirtualSize, want)
	}
	if ex.createType != "" && info.FormatSpecific.Data.CreateType != ex.createType {
		t.Errorf("qemu-img info create-type = %q, want %q", info.FormatSpecific.Data.CreateType, ex.createType)
	}
	if ex.qemuFormat != "vpc" && ex.qemuFormat != "raw" {
		// Probing must recognise the format too.
		var probed struct {
			Format string `json:"format"`
		}
		_ = json.Unmarshal([]byte(testutil.Run(t, "qemu-img", "info", "--output=json", out1)), &probed)
		if probed.Format != ex.qemuFormat {
			t.Errorf("qemu-img probes %q, want %q", probed.Format, ex.qemuFormat)
		}
	}

	// qemu-img check
	if ex.check {
		out, err := exec.Command("qemu-img", "check", "--output=json", "-f", ex.qemuFormat, out1).CombinedOutput()
		var chk struct {
			Corruptions int `json:"corruptions"`
			Leaks       int `json:"leaks"`
			CheckErrors int `json:"check-errors"`
			Fragmented  int `json:"fragmented-clusters"`
			ImageEndOff int `json:"image-end-offset"`
		}
		if jerr := json.Unmarshal(out, &chk); err != nil || jerr != nil {
			t.Errorf("qemu-img check: %v %v\n%s", err, jerr, out)
		} else if chk.Corruptions != 0 || chk.Leaks != 0 || chk.CheckErrors != 0 {
			t.Errorf("qemu-img check: %d corruptions, %d leaks, %d errors\n%s", chk.Corruptions, chk.Leaks, chk.CheckErrors, out)
		}
	}

	// qemu-img compare against the source (zeros past its end).
	if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", ex.qemuFormat, srcPath, out1).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v\n%s", err, out)
	}

	// A disk without any data is valid too.
	empty := filepath.Join(dir, "empty.raw")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(empty, SourceSize); err != nil {
		t.Fatal(err)
	}
	outEmpty := filepath.Join(dir, "empty."+f.Ext())
	write(t, f, empty, outEmpty, opts)
	if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", ex.qemuFormat, empty, outEmpty).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare of an empty disk: %v\n%s", err, out)
	}

	// A large sparse disk spans several qcow2 L2 tables, VHDX chunks
	// (sector bitmap entries interleave the BAT every 4 GiB) and so on.
	if !testing.Short() {
		large := filepath.Join(dir, "large.raw")
		makeLarge(t, large)
		outLarge := filepath.Join(dir, "large."+f.Ext())
		lopts := opts
		lopts.VirtualSize = 0
		write(t, f, large, outLarge, lopts)
		if ex.qemuFormat == "vhdx" {
			// qemu reads every VHDX block, holes too (slow): compare
			// windows around the data instead.
			compareWindows(t, dir, large, outLarge, ex.qemuFormat)
		} else if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", ex.qemuFormat, large, outLarge).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare of a %d-byte sparse disk: %v\n%s", LargeSize, err, out)
		}
		os.Remove(outLarge)
	}

	// Round trip to raw: the GPT must be intact.
	back := filepath.Join(dir, "back.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", ex.qemuFormat, "-O", "raw", out1, back)
	if st, err := os.Stat(back); err != nil || st.Size() != want {
		t.Errorf("round trip: %s has size %v, want %d (%v)", back, st.Size(), want, err)
	}
	if want == SourceSize {
		if v := testutil.Run(t, "sgdisk", "-v", back); !strings.Contains(v, "No problems found") {
			t.Errorf("sgdisk -v after round trip:\n%s", v)
		}
	}
	if a, b := gptPrint(t, srcPath, want != SourceSize), gptPrint(t, back, want != SourceSize); a != b {
		t.Errorf("partition table changed in round trip:\n%s\nwant:\n%s", b, a)
	}
}

func write(t *testing.T, f diskfmt.Format, srcPath, dstPath string, opts diskfmt.Options) {
	t.Helper()
	src, err := os.Open(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(dstPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ExtentName == "" {
		opts.ExtentName = "disk." + f.Ext()
	}
	if err := f.Write(context.Background(), src, dst, opts); err != nil {
		dst.Close()
		t.Fatalf("%s Write: %v", f.Name(), err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func sameFiles(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return ea == eb || (na == nb && (ea == io.ErrUnexpectedEOF || ea == io.EOF))
		}
	}
}

var sizeLines = regexp.MustCompile(`(?m)^Disk /.*$|^Total free space.*$|^Last usable sector.*$`)

// gptPrint is `sgdisk -p` without the file name; with resized, also without
// the lines that depend on the disk size.
func gptPrint(t *testing.T, path string, resized bool) string {
	t.Helper()
	out := testutil.Run(t, "sgdisk", "-p", path)
	if resized {
		out = sizeLines.ReplaceAllString(out, "")
	}
	return strings.ReplaceAll(out, path, "DISK")
}

// MakeDisk writes a sparse raw GPT disk of size bytes at path: three
// partitions (sgdisk), incompressible and compressible data extents,
// allocated all-zero extents, unaligned small writes, and holes. The
// content is the same on every call.
func MakeDisk(t testing.TB, path string, size int64) {
	t.Helper()
	testutil.RequireTool(t, "sgdisk")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testutil.Run(t, "sgdisk", "-U", "8A5B2D6E-0F10-4C1A-9C3B-3E8D6A7F1B20",
		"-n", "1:2048:+64M", "-t", "1:ef00", "-c", "1:EFI-SYSTEM", "-u", "1:11111111-2222-4333-8444-555555555555",
		"-n", "2:0:+128M", "-t", "2:8300", "-c", "2:USR-A", "-u", "2:21111111-2222-4333-8444-555555555555",
		"-n", "3:0:0", "-t", "3:8300", "-c", "3:ROOT", "-u", "3:31111111-2222-4333-8444-555555555555", path)
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const mib = 1 << 20
	put := func(off int64, b []byte) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		words := []string{"flatcar", "bake", "os", "sysext", "usr", "root", "grub", "0x", "\n", "ignition", "qemu"}
		var b bytes.Buffer
		for b.Len() < n {
			fmt.Fprintf(&b, "%s %d ", words[rng.IntN(len(words))], rng.IntN(1000))
		}
		return b.Bytes()[:n]
	}
	put(2*mib, random(3*mib))        // incompressible, cluster-aligned
	put(7*mib+123, text(5*mib+77))   // compressible, unaligned both ends
	put(20*mib, make([]byte, 2*mib)) // allocated zeros
	put(23*mib+4096, random(1000))   // small unaligned extent
	put(70*mib, text(4*mib))         // in USR-A
	put(131*mib-512, random(1024))   // straddles a 2 MiB block boundary? (and 1 MiB)
	put(200*mib, append(random(mib/2), text(mib)...))
	put(size-40*mib, text(33*512)) // near the end, not touching the backup GPT
}

// allocated is the number of bytes path occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no block counts on this system")
	}
	return sys.Blocks * 512
}

// recorder is a progress.Reporter remembering one counter.
type recorder struct {
	total, added int64
	done         bool
}

func (r *recorder) Counter(_ string, total int64) progress.Counter {
	r.total, r.added, r.done = total, 0, false
	return r
}
func (r *recorder) Add(n int64) { r.added += n }
func (r *recorder) Done()       { r.done = true }

// LargeSize is the size of the sparse disk Run writes to cross the
// formats' table boundaries.
const LargeSize = 4<<30 + 4<<20

// largeData are the offsets of makeLarge's 100 KiB data extents.
var largeData = []int64{0, 512<<20 - 4096, 2<<30 + 12345, 4<<30 - 512, 4<<30 + 2<<20, LargeSize - 64<<10}

// compareWindows compares the 4 MiB windows around largeData of the raw
// source and of out, read back by qemu-img through a raw window.
func compareWindows(t *testing.T, dir, src, out, format string) {
	t.Helper()
	fs, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for _, off := range largeData {
		mibs := off >> 20
		if mibs > 0 {
			mibs--
		}
		n := min(int64(4), LargeSize>>20-mibs)
		win := filepath.Join(dir, "window.raw")
		os.Remove(win)
		testutil.Run(t, "qemu-img", "convert", "--image-opts",
			fmt.Sprintf("driver=raw,offset=%d,size=%d,file.driver=%s,file.file.filename=%s", mibs<<20, n<<20, format, out),
			"-O", "raw", win)
		got, err := os.ReadFile(win)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, n<<20)
		if _, err := fs.ReadAt(want, mibs<<20); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the source in the 4 MiB at %d MiB", out, mibs)
		}
	}
}

// makeLarge writes a sparse LargeSize disk with small data extents at and
// around table boundaries.
func makeLarge(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(LargeSize); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, off := range largeData {
		b := make([]byte, 100<<10)
		for i := range b {
			b[i] = byte(rng.IntN(16))
		}
		b = b[:min(int64(len(b)), LargeSize-off)]
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}
