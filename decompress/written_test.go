package decompress_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/decompress"
)

// Options.Written promises that the output is final below each offset it
// reports: read the file back at every call and compare with the input.
func TestWrittenIsFinal(t *testing.T) {
	var data []byte
	for i := range 6 {
		data = append(data, textish(150000+i*7000, uint64(i))...)
		data = append(data, make([]byte, 300000+i*4096)...) // holes
		data = append(data, randomBytes(90000, uint64(i))...)
		data = append(data, 0, 0, 0) // zeros next to data
	}
	data = append(data, make([]byte, 1<<20)...) // trailing hole
	bz := compress(t, writeFile(t, "in.bin", data), "bzip2", "-1")
	for _, workers := range []int{1, 3} {
		src, err := os.Open(bz)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.bin")
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		reader, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		calls := 0
		written := func(end int64) {
			calls++
			if end <= last || end > int64(len(data)) {
				t.Errorf("Written(%d) after Written(%d), input %d bytes", end, last, len(data))
				return
			}
			got := make([]byte, end-last)
			n, err := reader.ReadAt(got, last)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			clear(got[n:]) // past the end of the file so far: a hole
			if !bytes.Equal(got, data[last:end]) {
				t.Errorf("workers %d: output in [%d, %d) not final when reported", workers, last, end)
			}
			last = end
		}
		n, err := decompress.Bzip2ToSparse(context.Background(), src, dst, decompress.Options{Workers: workers, Written: written})
		src.Close()
		dst.Close()
		reader.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(data)) || last != n {
			t.Errorf("workers %d: decoded %d bytes, last Written %d, want %d", workers, n, last, len(data))
		}
		if calls < 5 {
			t.Errorf("workers %d: Written called %d times; want it to follow the blocks", workers, calls)
		}
	}
}
