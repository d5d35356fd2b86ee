package diskfmt

import (
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

// appender is an io.Writer appending to a reusable slice.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

type resetWriteCloser interface {
	io.WriteCloser
	Reset(io.Writer)
}

func compressWith(zw resetWriteCloser, a *appender) transformer {
	return func(dst, data []byte) ([]byte, error) {
		a.b = dst
		zw.Reset(a)
		if _, err := zw.Write(data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return a.b, nil
	}
}

// deflater returns a transformer factory that raw-deflates a cluster
// (qcow2 compressed clusters).
func deflater(level int) func() transformer {
	return func() transformer {
		a := &appender{}
		zw, _ := flate.NewWriter(a, level) // level is checked by resolve
		return compressWith(zw, a)
	}
}

// zlibber returns a transformer factory that zlib-compresses a grain (VMDK
// streamOptimized grains).
func zlibber(level int) func() transformer {
	return func() transformer {
		a := &appender{}
		zw, _ := zlib.NewWriterLevel(a, level)
		return compressWith(zw, a)
	}
}
