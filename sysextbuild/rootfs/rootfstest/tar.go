package rootfstest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

// TarEnt is one entry of a test tar archive or layer: a regular file
// unless Typ says otherwise; Mode 0 means 0644 (0755 for a directory).
type TarEnt struct {
	Name, Body, Link string
	Typ              byte
	Mode             int64
}

// MakeTar writes ents as a tar archive.
func MakeTar(t *testing.T, ents []TarEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.Name, Typeflag: e.Typ, Mode: e.Mode, Linkname: e.Link, Size: int64(len(e.Body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		Must(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte(e.Body))
			Must(t, err)
		}
	}
	Must(t, tw.Close())
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	Must(t, err)
	Must(t, zw.Close())
	return buf.Bytes()
}
