package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"

	"golang.org/x/term"

	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/progress"
)

// deps are what commands need from the process: streams and the working
// directory. Tests pass their own.
type deps struct {
	stdout, stderr io.Writer
	cwd            string
	tty            bool // stderr is a terminal: show progress bars
	width          int  // terminal columns (0: 80)

	g   globalOptions // the root's persistent flags, set by parsing
	con *console
	log *slog.Logger
}

// globalOptions are the persistent flags every command honours.
type globalOptions struct {
	json    bool // stdout holds only JSON; logs stay on stderr
	verbose bool // debug lines: each tool run and HTTP request
	quiet   bool // errors only: no warnings, no progress
}

func defaultDeps() *deps {
	cwd, _ := os.Getwd()
	d := &deps{stdout: os.Stdout, stderr: os.Stderr, cwd: cwd, tty: term.IsTerminal(int(os.Stderr.Fd()))}
	if d.tty {
		if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil {
			d.width = w
		}
	}
	return d
}

func (d *deps) console() *console {
	if d.con == nil {
		d.con = &console{w: d.stderr, tty: d.tty}
	}
	return d.con
}

// logger is the program's one logger, made on first use after the flags
// are parsed; every package logs through it.
func (d *deps) logger() *slog.Logger {
	if d.log == nil {
		d.log = newLogger(d.console(), logLevel(d.g.quiet, d.g.verbose))
	}
	return d.log
}

// httpClient is the client for packages that take one: it logs each
// request at debug level.
func (d *deps) httpClient() *http.Client { return runlog.Client(nil, d.logger()) }

// warn logs a warning through the one logger (for options taking a
// func(string)).
func (d *deps) warn(msg string) { d.logger().Warn(msg) }

// reporter draws progress on stderr, unless -q or --json.
func (d *deps) reporter(ctx context.Context) progress.Reporter {
	if d.g.quiet || d.g.json {
		return progress.Nop()
	}
	return newReporter(ctx, d.console(), d.width)
}
