// Command bake-os bakes systemd-sysext images into Flatcar Container Linux
// disk images and turns them into cloud and VM images.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/verify"
)

// Exit codes (see "EXIT STATUS" in --help).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitVerify      = 3
	exitInterrupted = 130 // 128 + SIGINT; SIGTERM gives 143
)

// usageError marks errors in flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, verify.ErrFailed):
		return exitVerify
	}
	return exitFailure
}

func main() {
	// go-diskfs logs through logrus; its messages are not ours to print.
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.ErrorLevel)
	ctx, interrupted := interruptible(context.Background())
	root := newRootCmd(defaultDeps())
	err := root.ExecuteContext(ctx)
	code := exitCode(err)
	if sig := interrupted(); sig != 0 && err != nil {
		// Whatever failed after the signal failed because of it; what it
		// left behind (a partly written disk) is still said.
		msg := "interrupted by " + signalName(sig)
		var d interface{ Damage() string }
		if errors.As(err, &d) {
			msg += ": " + d.Damage()
		}
		err, code = errors.New(msg), 128+int(sig)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bake-os: %v\n", err)
	}
	os.Exit(code)
}

// forceExitAfter is how long the run has, after SIGINT or SIGTERM, to
// stop its tools and remove its temporary files itself before the signal
// handler does it and exits.
const forceExitAfter = 700 * time.Millisecond

// interruptible returns a context cancelled by the first SIGINT, SIGTERM
// or SIGHUP, and a function reporting that signal (0: none). A second
// signal, or a run that has not returned forceExitAfter after the first,
// ends the process at once: child tools killed, temporary files removed,
// exit status 128+signal. Signals are never ignored.
func interruptible(parent context.Context) (context.Context, func() syscall.Signal) {
	ctx, cancel := context.WithCancel(parent)
	var got atomic.Int32
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := (<-ch).(syscall.Signal)
		got.Store(int32(sig))
		cancel()
		select {
		case <-ch:
		case <-time.After(forceExitAfter):
		}
		child.KillAll()
		atomicfile.RemoveTemps()
		fmt.Fprintf(os.Stderr, "bake-os: interrupted by %s\n", signalName(sig))
		os.Exit(128 + int(sig))
	}()
	return ctx, func() syscall.Signal { return syscall.Signal(got.Load()) }
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}
