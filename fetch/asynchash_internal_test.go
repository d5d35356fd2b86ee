package fetch

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"io"
	"testing"
	"testing/iotest"
)

func TestAsyncHash(t *testing.T) {
	for _, size := range []int{0, 1, asyncChunk - 1, asyncChunk, 3*asyncChunk + 17} {
		data := make([]byte, size)
		rand.Read(data)
		want := sha512.Sum512(data)
		// Through WriteTo (io.Copy) and through small Reads.
		for _, viaRead := range []bool{false, true} {
			a := newAsyncHash(bytes.NewReader(data), sha512.New())
			var out bytes.Buffer
			var err error
			if viaRead {
				_, err = io.Copy(&out, iotest.HalfReader(struct{ io.Reader }{a}))
			} else {
				_, err = io.Copy(&out, a)
			}
			got := a.Sum()
			if err != nil || !bytes.Equal(out.Bytes(), data) || !bytes.Equal(got, want[:]) {
				t.Fatalf("size %d viaRead %v: err %v, copy ok %v, hash ok %v", size, viaRead, err, bytes.Equal(out.Bytes(), data), bytes.Equal(got, want[:]))
			}
		}
	}
	// A read error surfaces and Sum still returns.
	a := newAsyncHash(iotest.ErrReader(io.ErrClosedPipe), sha512.New())
	if _, err := io.Copy(io.Discard, a); err != io.ErrClosedPipe {
		t.Fatalf("err = %v", err)
	}
	a.Sum()
}
