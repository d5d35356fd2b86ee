package diskfmt

import (
	"context"
	"fmt"
	"os"
)

// Raw writes a sparse raw disk: the source's non-zero 64 KiB clusters at
// their offsets, holes everywhere else.
type Raw struct{}

func (Raw) Name() string        { return "raw" }
func (Raw) Ext() string         { return "bin" }
func (Raw) Description() string { return "sparse raw disk image" }

func (Raw) VirtualSize(srcSize int64, o Options) (int64, error) { return plainSize(srcSize, o) }

func (Raw) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	if err := writeRawData(ctx, r, src, dst, 0); err != nil {
		return err
	}
	if err := dst.Truncate(r.size); err != nil {
		return fmt.Errorf("setting size of %s: %w", dst.Name(), err)
	}
	return nil
}

// writeRawData copies the non-zero 64 KiB clusters of src to dst at base +
// their offset, coalescing neighbours into large writes.
func writeRawData(ctx context.Context, r resolved, src, dst *os.File, base int64) error {
	return writeRawDataScan(ctx, r, src, dst, base, &scan{})
}

// writeRawDataScan is writeRawData filling in s, whose digest is then the
// content digest.
func writeRawDataScan(ctx context.Context, r resolved, src, dst *os.File, base int64, s *scan) error {
	const cs = 64 << 10
	w := newSeqWriter(dst, base)
	*s = scan{
		src: src, srcSize: r.srcSize, size: cs, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		emit: func(idx int64, data, _ []byte) error {
			if off := base + idx*cs; off != w.off {
				if err := w.Skip(off - w.off); err != nil {
					return err
				}
			}
			_, err := w.Write(data)
			return err
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	return w.Flush()
}
