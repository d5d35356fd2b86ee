package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// console is stderr shared by the logger and the progress bars: a log
// line first clears a bar being drawn, so the two never mix on one line.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	bar bool // a progress bar is on the current line
}

// printLine writes one complete line (without its newline).
func (c *console) printLine(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar {
		io.WriteString(c.w, "\r\x1b[K")
		c.bar = false
	}
	io.WriteString(c.w, s+"\n")
}

// drawBar replaces the current line with a progress bar line.
func (c *console) drawBar(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, "\r"+s+"\x1b[K")
	c.bar = true
}

// logLevel is the level the global flags ask for: -q shows only errors,
// -v adds debug lines (each tool run and HTTP request).
func logLevel(quiet, verbose bool) slog.Level {
	switch {
	case quiet:
		return slog.LevelError
	case verbose:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// lineHandler is the program's one slog.Handler: plain lines
// "bake-os: warning: MSG (key=value ...)" on stderr, "bake-os: MSG ..." for
// info and debug.
type lineHandler struct {
	con    *console
	level  slog.Leveler
	prefix string // attribute group prefix
	attrs  []slog.Attr
}

func newLogger(con *console, level slog.Level) *slog.Logger {
	return slog.New(&lineHandler{con: con, level: level})
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("bake-os: ")
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	var kv []string
	for _, a := range h.attrs {
		kv = appendAttr(kv, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.prefix, a)
		return true
	})
	if len(kv) > 0 {
		b.WriteString(" (" + strings.Join(kv, " ") + ")")
	}
	h.con.printLine(strings.ReplaceAll(b.String(), "\n", " "))
	return nil
}

func appendAttr(kv []string, prefix string, a slog.Attr) []string {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return kv
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			kv = appendAttr(kv, p, g)
		}
		return kv
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\"=") {
		v = strconv.Quote(v)
	}
	return append(kv, fmt.Sprintf("%s%s=%s", prefix, a.Key, v))
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
