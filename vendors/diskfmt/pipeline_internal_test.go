package diskfmt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteCancelled(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Create(filepath.Join(dir, "src.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.WriteAt(make([]byte, 1<<20), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteAt([]byte("data"), 4<<20-4); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, f := range All() {
		dst, err := os.Create(filepath.Join(dir, "out."+f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(ctx, src, dst, Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Write with a cancelled context = %v, want context.Canceled", f.Name(), err)
		}
		dst.Close()
	}
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Create(filepath.Join(dir, "src.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Truncate(4 << 20); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f Format
		o Options
	}{
		{Qcow2{}, Options{VirtualSize: 1 << 20}},
		{Raw{}, Options{VirtualSize: 5<<20 + 1}},
		{Qcow2{}, Options{Level: 12}},
		{VMDKSparse{}, Options{Adapter: "scsi"}},
		{VMDKStream{}, Options{Adapter: "nvme"}},
	} {
		dst, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.f.Write(context.Background(), src, dst, tc.o); err == nil {
			t.Errorf("%s with %+v: no error", tc.f.Name(), tc.o)
		}
		dst.Close()
	}
}

// VHD geometry per the VHD specification's algorithm (it rounds down;
// qemu-img rounds the disk size up to the geometry instead).
func TestVHDCHS(t *testing.T) {
	for _, tc := range []struct {
		size int64
		c    uint16
		h, s uint8
	}{
		{300 << 20, 609, 16, 63},
		{1 << 30, 2080, 16, 63},
		{30 << 30, 62415, 16, 63},
		{100 << 30, 51400, 16, 255},
		{4 << 20, 120, 4, 17},
	} {
		if c, h, s := vhdCHS(tc.size); c != tc.c || h != tc.h || s != tc.s {
			t.Errorf("vhdCHS(%d) = %d/%d/%d, want %d/%d/%d", tc.size, c, h, s, tc.c, tc.h, tc.s)
		}
	}
}

// An emit error stops the scan without deadlock and is returned.
func TestScanEmitError(t *testing.T) {
	src, err := os.Create(filepath.Join(t.TempDir(), "src.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := make([]byte, 8<<20)
	for i := range b {
		b[i] = byte(i>>10) | 1
	}
	if _, err := src.Write(b); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var emitted int
	s := &scan{
		src: src, srcSize: int64(len(b)), size: 64 << 10, workers: 2, newT: deflater(1),
		emit: func(idx int64, _, _ []byte) error {
			if idx != int64(emitted) {
				t.Errorf("emitted cluster %d, want %d (in order)", idx, emitted)
			}
			emitted++
			if emitted == 10 {
				return boom
			}
			return nil
		},
	}
	if err := s.run(context.Background()); !errors.Is(err, boom) {
		t.Errorf("run = %v, want the emit error", err)
	}
	if emitted != 10 {
		t.Errorf("emit called %d times after its error, want 10", emitted)
	}
}
