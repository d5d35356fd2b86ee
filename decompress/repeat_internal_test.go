package decompress

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// repeatInput is bzip2 -1 of some text, 40 MB of zeros (eight identical
// blocks of zeros, at varying bit alignments) and more text.
func repeatInput(t *testing.T) (want, bz []byte) {
	t.Helper()
	testutil.RequireTool(t, "bzip2")
	want = append(want, bytes.Repeat([]byte("flatcar oem usr verity\n"), 5001)...)
	want = append(want, make([]byte, 40<<20)...)
	want = append(want, bytes.Repeat([]byte("sysext ext4\n"), 3001)...)
	in := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(in, want, 0o644); err != nil {
		t.Fatal(err)
	}
	bz, err := exec.Command("bzip2", "-1", "-c", in).Output()
	if err != nil {
		t.Fatal(err)
	}
	return want, bz
}

// blockMagics returns the bit positions of the block magics in bz.
func blockMagics(bz []byte) []int64 {
	var pos []int64
	var w uint64
	for i, b := range bz {
		for k := 7; k >= 0; k-- {
			w = w<<1 | uint64(b>>k&1)
			if w&magicMask == blockMagic {
				pos = append(pos, int64(i)*8+int64(7-k)-47)
			}
		}
	}
	return pos
}

// TestRepeatBlocks decodes every block piece with one decoder: the
// repeated blocks of zeros are answered from the cache, and each output
// is what decoding gives.
func TestRepeatBlocks(t *testing.T) {
	_, bz := repeatInput(t)
	magics := blockMagics(bz)
	if len(magics) < 8 {
		t.Fatalf("%d blocks, want at least 8", len(magics))
	}
	d, fresh := newBlockDecoder(), newBlockDecoder()
	aligns := map[int64]bool{}
	for i, m := range magics {
		end := int64(len(bz)-10) * 8 // before the end-of-stream magic, roughly
		if i+1 < len(magics) {
			end = magics[i+1]
		}
		data := make([]byte, len(bz)-int(m/8)+inputPad)
		copy(data, bz[m/8:])
		p := &piece{kind: kindBlock, startBit: m, endBit: end, data: data, out: &blockOut{}}
		hits := d.repeat.hits
		p.decodeWith(d)
		if p.err != nil && i+1 < len(magics) {
			t.Fatalf("block %d: %v", i, p.err)
		}
		if d.repeat.hits > hits {
			aligns[m&7] = true
			var o blockOut
			e, err := fresh.decode(data, int(m&7), int(end-m&^7), &o)
			if err != nil || m&^7+int64(e) != p.end || o.crc != p.out.crc || o.size != p.out.size ||
				!bytes.Equal(o.lit, p.out.lit) || !slicesEqual(o.segs, p.out.segs) {
				t.Fatalf("block %d: cached output differs from decoding (err %v)", i, err)
			}
		}
	}
	if d.repeat.hits < 5 {
		t.Errorf("%d cache hits among %d blocks, want at least 5", d.repeat.hits, len(magics))
	}
	if len(aligns) < 2 {
		t.Errorf("cache hits only at bit alignments %v", aligns)
	}
}

func slicesEqual(a, b []seg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRepeatCorruptRefused plants a defect in a late copy of the repeated
// block: its bits differ from the remembered ones, so it is decoded, and
// refused.
func TestRepeatCorruptRefused(t *testing.T) {
	want, bz := repeatInput(t)
	decodeAll := func(bz []byte) ([]byte, error) {
		out := filepath.Join(t.TempDir(), "out")
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		_, err = Bzip2ToSparse(context.Background(), bytes.NewReader(bz), dst, Options{Workers: 1})
		got, _ := os.ReadFile(out)
		return got, err
	}
	got, err := decodeAll(bz)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("intact input: err %v, output equal %v", err, bytes.Equal(got, want))
	}
	magics := blockMagics(bz)
	m := magics[len(magics)-2] // the last block of zeros
	for _, c := range []struct {
		name string
		bit  int64 // after the magic
		want string
	}{
		{"block CRC", 48 + 20, "CRC mismatch in block"},
		{"coded data", (magics[len(magics)-1] - m) - 40, "block"},
	} {
		d := bytes.Clone(bz)
		b := m + c.bit
		d[b/8] ^= 0x80 >> (b & 7)
		_, err := decodeAll(d)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s flipped: error %v, want ErrCorrupt mentioning %q", c.name, err, c.want)
		}
	}
}
