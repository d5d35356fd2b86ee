package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bake-os/bake-os/internal/verify"
)

// TestExitCodeVerification: every verification failure, however its
// package words and wraps it (fetch wraps the sentinel, sysextbuild and
// install use verify.Errorf), exits 3; an error that merely says
// "verification failed" without being one exits 1.
func TestExitCodeVerification(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("image: verifying x: %w: bad signature", verify.ErrFailed), exitVerify},
		{fmt.Errorf("recipe: %w", verify.Errorf("verifying x.tar.gz: checksum mismatch: got sha256 %s", "ab")), exitVerify},
		{verify.Errorf("verifying /dev/sdx: bytes %d-%d read back differ", 0, 511), exitVerify},
		{usageError{verify.ErrFailed}, exitUsage},
		{errors.New("verification failed"), exitFailure},
		{fmt.Errorf("x: %v", verify.ErrFailed), exitFailure},
		{verify.Errorf("verifying: %w", context.Canceled), exitInterrupted},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
