// Command bake-os bakes systemd-sysext images into Flatcar Container Linux
// disk images and turns them into cloud and VM images.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
)

// Exit codes (see "EXIT STATUS" in --help).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitVerify      = 3
	exitInterrupted = 130
)

// usageError marks errors in flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// verifyError is implemented by errors from failed signature or checksum
// verification.
type verifyError interface{ VerificationFailed() bool }

func exitCode(err error) int {
	var ue usageError
	var ve verifyError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ve) && ve.VerificationFailed():
		return exitVerify
	case isVerification(err):
		return exitVerify
	}
	return exitFailure
}

func main() {
	// go-diskfs logs through logrus; its messages are not ours to print.
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.ErrorLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(defaultDeps())
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bake-os: %v\n", err)
	}
	os.Exit(exitCode(err))
}
