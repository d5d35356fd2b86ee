// Package verify owns "verification failed": the one error that every
// failed check of an input or output wraps — an OpenPGP signature, a
// published checksum (DIGESTS, SHA256SUMS, a recipe's upstream SHA-256), a
// disk read back after writing. The command maps it, and only it, to exit
// status 3.
package verify

import (
	"errors"
	"fmt"
)

// ErrFailed is wrapped by every verification failure; test with
// errors.Is(err, verify.ErrFailed).
var ErrFailed = errors.New("verification failed")

// Errorf is fmt.Errorf (%w wraps as usual) for an error that is a
// verification failure: it matches ErrFailed without adding its text.
func Errorf(format string, a ...any) error {
	return failed{fmt.Errorf(format, a...)}
}

type failed struct{ err error }

func (f failed) Error() string   { return f.err.Error() }
func (f failed) Unwrap() []error { return []error{ErrFailed, f.err} }
