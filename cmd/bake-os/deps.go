package main

import (
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/bake-os/bake-os/progress"
)

// deps are what commands need from the process: streams and the working
// directory. Tests pass their own.
type deps struct {
	stdout, stderr io.Writer
	cwd            string
	tty            bool // stderr is a terminal: show progress bars
}

func defaultDeps() *deps {
	cwd, _ := os.Getwd()
	return &deps{stdout: os.Stdout, stderr: os.Stderr, cwd: cwd, tty: term.IsTerminal(int(os.Stderr.Fd()))}
}

func (d *deps) logger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: level}))
}

func (d *deps) reporter(quiet bool) progress.Reporter {
	if quiet {
		return progress.Nop()
	}
	return newReporter(d.stderr, d.tty)
}
