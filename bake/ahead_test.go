package bake_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/testimage"
	"github.com/bake-os/bake-os/vendors"
)

// A qcow2 vendor bake from a .bin.bz2 encodes most of the disk while the
// image decodes. Its disk must hold exactly what the sequential path
// writes: bake the generic image, then build the vendor from it. Both
// are converted back to raw by qemu-img and compared everywhere but OEM,
// whose btrfs rebuild draws new UUIDs on every run.
func TestQcow2VendorEncodedAhead(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "bzip2")
	f := newFixture(t, testimage.Options{})
	ctx := context.Background()
	bz := f.image + ".bz2"
	if err := testimage.Bzip2(ctx, f.image, bz); err != nil {
		t.Fatal(err)
	}
	oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\nSYSEXT_VERSION_ID=4593.2.5\n"
	if err := testimage.Sysext(ctx, filepath.Join(filepath.Dir(f.image), "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
		t.Fatal(err)
	}
	f.sysext(t, "ext.raw", "ext", flatcarRelease)
	sysexts, err := bake.ParseSysextArgs([]string{"ext:ext.raw"}, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	qemu, ok := vendors.Lookup("qemu_uefi")
	if !ok {
		t.Fatal("no qemu_uefi vendor")
	}
	const epoch = 1700000000
	const name = "flatcar_production_qemu_uefi_image.img"

	// Encoded ahead, from the .bin.bz2 (while decoding) and from the raw
	// image (after the copy, while ROOT and OEM are edited).
	aheadDir := filepath.Join(f.dir, "ahead")
	fromRawDir := filepath.Join(f.dir, "ahead-raw")
	for in, dir := range map[string]string{bz: aheadDir, f.image: fromRawDir} {
		os.MkdirAll(dir, 0o755)
		if _, err := bake.Run(ctx, bake.Options{Image: in, OutputDir: dir, Sysexts: sysexts, Epoch: epoch,
			Vendors: []vendors.Vendor{qemu}, VendorOptions: vendors.BuildOptions{Compress: "none"}}); err != nil {
			t.Fatal(err)
		}
	}
	ahead := filepath.Join(aheadDir, name)
	fromRaw := filepath.Join(fromRawDir, name)

	// Sequential.
	genDir := filepath.Join(f.dir, "generic")
	os.MkdirAll(genDir, 0o755)
	if _, err := bake.Run(ctx, bake.Options{Image: bz, OutputDir: genDir, Sysexts: sysexts, Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	seqDir := filepath.Join(f.dir, "seq")
	if _, err := vendors.Build(ctx, []vendors.Vendor{qemu}, vendors.BuildOptions{Base: filepath.Join(genDir, bake.ImageName),
		OutputDir: seqDir, Compress: "none", OEMSysextDir: filepath.Dir(f.image), FlatcarVersion: "4593.2.5", Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	seq := filepath.Join(seqDir, name)

	for _, img := range []string{ahead, fromRaw, seq} {
		testutil.Run(t, "qemu-img", "check", "-q", img)
	}
	// The sequential writer stores virtual cluster 0 (the GPT) first, right
	// after the header; encoded ahead, it comes after the early clusters.
	if off := firstClusterOffset(t, seq); off != 64<<10 {
		t.Fatalf("sequential qcow2 stores cluster 0 at %d, want 65536", off)
	}
	rawS := filepath.Join(f.dir, "seq.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", seq, rawS)
	var oem flatcar.PartitionSpec
	for _, p := range flatcar.BaseLayout {
		if p.Label == flatcar.LabelOEM {
			oem = p
		}
	}
	skip := sparse.Extent{Off: int64(oem.FirstSector) * 512, Len: int64(oem.Sectors) * 512}
	for _, img := range []string{ahead, fromRaw} {
		if off := firstClusterOffset(t, img); off == 64<<10 {
			t.Errorf("%s stores cluster 0 first: nothing was encoded ahead", img)
		}
		raw := img + ".raw"
		testutil.Run(t, "qemu-img", "convert", "-O", "raw", img, raw)
		if off, same := sameOutside(t, raw, rawS, skip); !same {
			t.Errorf("%s differs from the sequential disk at byte %d", img, off)
		}
		os.Remove(raw)
		ents, _ := os.ReadDir(filepath.Dir(img))
		for _, e := range ents {
			if e.Name()[0] == '.' {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	}
}

// firstClusterOffset returns where a qcow2 file stores virtual cluster 0.
func firstClusterOffset(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [72]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	var e [8]byte
	if _, err := f.ReadAt(e[:], int64(be.Uint64(h[40:]))); err != nil {
		t.Fatal(err)
	}
	l2 := int64(be.Uint64(e[:]) & (1<<62 - 1))
	if _, err := f.ReadAt(e[:], l2); err != nil {
		t.Fatal(err)
	}
	return int64(be.Uint64(e[:]) & (1<<54 - 1)) // compressed: offset in the low bits
}

// sameOutside compares two sparse files of equal size outside skip,
// reading only their data; it returns the first differing offset.
func sameOutside(t *testing.T, a, b string, skip sparse.Extent) (int64, bool) {
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
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		t.Fatalf("sizes %d and %d differ", sa.Size(), sb.Size())
	}
	var exts []sparse.Extent
	for _, f := range []*os.File{fa, fb} {
		e, err := sparse.DataExtents(f, 0, sa.Size())
		if err != nil {
			t.Fatal(err)
		}
		exts = append(exts, e...)
	}
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, e := range exts {
		for off := e.Off; off < e.End(); off += int64(len(ba)) {
			n := min(int64(len(ba)), e.End()-off)
			clear(ba)
			clear(bb)
			if _, err := fa.ReadAt(ba[:n], off); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if _, err := fb.ReadAt(bb[:n], off); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if from, to := max(off, skip.Off), min(off+n, skip.End()); from < to {
				clear(ba[from-off : to-off])
				clear(bb[from-off : to-off])
			}
			if !bytes.Equal(ba[:n], bb[:n]) {
				return off, false
			}
		}
	}
	return 0, true
}

// cancelAt cancels a context when a step whose name starts with prefix
// has made progress.
type cancelAt struct {
	prefix string
	cancel context.CancelFunc
}

func (r cancelAt) Counter(desc string, _ int64) progress.Counter {
	if strings.HasPrefix(desc, r.prefix) {
		return cancelCounter{r.cancel}
	}
	return progress.Nop().Counter(desc, 0)
}

type cancelCounter struct{ cancel context.CancelFunc }

func (c cancelCounter) Add(int64) { c.cancel() }
func (c cancelCounter) Done()     {}

// Interrupted while decoding (the early qcow2 encoding running) or while
// writing the vendor disk, a qcow2 vendor bake leaves nothing in the
// output directory.
func TestQcow2VendorInterruptedLeavesNothing(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "bzip2")
	f := newFixture(t, testimage.Options{})
	bz := f.image + ".bz2"
	if err := testimage.Bzip2(context.Background(), f.image, bz); err != nil {
		t.Fatal(err)
	}
	oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\nSYSEXT_VERSION_ID=4593.2.5\n"
	if err := testimage.Sysext(context.Background(), filepath.Join(filepath.Dir(f.image), "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
		t.Fatal(err)
	}
	qemu, _ := vendors.Lookup("qemu_uefi")
	for _, step := range []string{"decompressing", "writing"} {
		out := filepath.Join(f.dir, "out-"+step)
		os.MkdirAll(out, 0o755)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := bake.Run(ctx, bake.Options{Image: bz, OutputDir: out, Reporter: cancelAt{step, cancel},
			Vendors: []vendors.Vendor{qemu}, VendorOptions: vendors.BuildOptions{Compress: "none"}})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted while %s: Run = %v, want context.Canceled", step, err)
		}
		if ents, _ := os.ReadDir(out); len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("interrupted while %s: left %v", step, names)
		}
	}
}
