package vendors

import (
	"archive/tar"
	"context"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/klauspost/pgzip"
)

// tarMember is one regular file of a tar archive: either Data or the file
// at Path (streamed, holes read as zeros without touching the disk).
type tarMember struct {
	Name string
	Data []byte
	Path string
	Mode int64
	// Hash, when set, receives the member's bytes as they are written.
	Hash hash.Hash
}

// writeTar writes members in order as a ustar archive to w.
func writeTar(ctx context.Context, w io.Writer, members []tarMember) error {
	tw := newStreamTar(w)
	for _, m := range members {
		if err := tw.add(ctx, m); err != nil {
			return err
		}
	}
	return tw.close()
}

// streamTar adds members one at a time, so a later member can depend on
// earlier ones (the OVA manifest hashes what was written before it).
type streamTar struct {
	tw  *tar.Writer
	buf []byte
}

func newStreamTar(w io.Writer) *streamTar {
	return &streamTar{tw: tar.NewWriter(w), buf: make([]byte, 1<<20)}
}

func (s *streamTar) add(ctx context.Context, m tarMember) error {
	if err := writeTarMember(ctx, s.tw, m, s.buf); err != nil {
		return fmt.Errorf("adding %s: %w", m.Name, err)
	}
	return nil
}

func (s *streamTar) close() error { return s.tw.Close() }

func writeTarMember(ctx context.Context, tw *tar.Writer, m tarMember, buf []byte) error {
	mode := m.Mode
	if mode == 0 {
		mode = 0o644
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: m.Name, Mode: mode, ModTime: archiveTime(ctx),
		Uname: "root", Gname: "root", Format: tar.FormatUSTAR}
	var r io.Reader
	if m.Path != "" {
		f, err := os.Open(m.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		sr, err := newSparseReader(f)
		if err != nil {
			return err
		}
		hdr.Size = sr.size
		if hdr.Size >= 1<<33 {
			hdr.Format = tar.FormatGNU // ustar sizes stop at 8 GiB
		}
		r = &ctxReader{ctx: ctx, r: sr}
	} else {
		hdr.Size = int64(len(m.Data))
		r = bytesReader(m.Data)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	var dst io.Writer = tw
	if m.Hash != nil {
		dst = io.MultiWriter(tw, m.Hash)
	}
	n, err := io.CopyBuffer(dst, r, buf)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("size changed while archiving (%d of %d bytes)", n, hdr.Size)
	}
	return nil
}

type byteSliceReader struct{ b []byte }

func bytesReader(b []byte) io.Reader { return &byteSliceReader{b} }

func (r *byteSliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// gzipWriter returns a parallel gzip writer on w.
func gzipWriter(ctx context.Context, w io.Writer, workers int) (*pgzip.Writer, error) {
	zw, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = 1
	}
	if err := zw.SetConcurrency(1<<20, 2*workers); err != nil {
		return nil, err
	}
	zw.ModTime = archiveTime(ctx)
	return zw, nil
}

// writeTarGz writes members as a gzip'd tar to dst.
func writeTarGz(ctx context.Context, dst io.Writer, members []tarMember, workers int) error {
	zw, err := gzipWriter(ctx, dst, workers)
	if err != nil {
		return err
	}
	if err := writeTar(ctx, zw, members); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}
