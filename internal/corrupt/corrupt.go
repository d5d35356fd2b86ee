// Package corrupt owns the one place where a panic of a third-party
// parser (go-diskfs's squashfs and FAT readers) becomes an error. Those
// parsers trust the fields of the filesystem they read; a hostile or
// damaged image can drive them into an index out of range or a nil
// dereference. Every call into them runs inside Guard, so such an image
// ends in "reading NAME: corrupt squashfs image (...)" instead of a crash.
package corrupt

import (
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is wrapped by every error Guard makes from a panic.
var ErrCorrupt = errors.New("corrupt")

// Error is a parser panic turned into an error: Kind names what was being
// parsed ("squashfs image", "FAT filesystem"), Cause is the panic value.
type Error struct {
	Kind  string
	Cause any
}

func (e *Error) Error() string { return fmt.Sprintf("corrupt %s (%v)", e.Kind, e.Cause) }

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *Error) Unwrap() error { return ErrCorrupt }

// Guard runs fn and turns a panic inside it into an *Error about kind.
// Callers wrap the result with what they were reading:
// fmt.Errorf("reading %s: %w", name, err).
func Guard(kind string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Kind: kind, Cause: r}
		}
	}()
	return fn()
}

// Reader wraps r so that a panic in its Read becomes an *Error about kind.
func Reader(kind string, r io.ReadCloser) io.ReadCloser { return &reader{kind: kind, r: r} }

type reader struct {
	kind string
	r    io.ReadCloser
}

func (g *reader) Read(p []byte) (n int, err error) {
	err = Guard(g.kind, func() error {
		var rerr error
		n, rerr = g.r.Read(p)
		return rerr
	})
	return n, err
}

func (g *reader) Close() error { return Guard(g.kind, g.r.Close) }
