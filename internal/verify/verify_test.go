package verify

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorf(t *testing.T) {
	err := Errorf("verifying %s: bytes %d-%d differ: %w", "/dev/sdx", 0, 511, context.Canceled)
	if err.Error() != "verifying /dev/sdx: bytes 0-511 differ: context canceled" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not match ErrFailed and what it wraps", err)
	}
	if wrapped := fmt.Errorf("writing: %w", err); !errors.Is(wrapped, ErrFailed) {
		t.Errorf("wrapping loses ErrFailed: %v", wrapped)
	}
	if errors.Is(errors.New("verification failed"), ErrFailed) || errors.Is(fmt.Errorf("x: %v", ErrFailed), ErrFailed) {
		t.Error("an error that only says so (not wrapping) matches ErrFailed")
	}
}
