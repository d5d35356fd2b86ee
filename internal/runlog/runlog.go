// Package runlog owns the debug trail of a run: each external tool started
// and each HTTP request made, logged at debug level through the program's
// one *slog.Logger (cmd creates it; bake-os -v shows these lines). Packages
// take the logger in their options and carry it in the context (With), so
// that the tool runners deep below find it (From) without printing.
package runlog

import (
	"context"
	"log/slog"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
)

type ctxKey struct{}

// With returns ctx carrying log (ctx itself when log is nil).
func With(ctx context.Context, log *slog.Logger) context.Context {
	if log == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, log)
}

// From returns the logger ctx carries, or one that discards everything.
func From(ctx context.Context) *slog.Logger {
	if ctx != nil {
		if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
			return l
		}
	}
	return discard
}

// Or returns log, or the logger ctx carries when log is nil.
func Or(ctx context.Context, log *slog.Logger) *slog.Logger {
	if log != nil {
		return log
	}
	return From(ctx)
}

var discard = slog.New(slog.DiscardHandler)

// Tool logs that cmd is about to run: "running TOOL ARG..." with shell
// quoting where an argument needs it.
func Tool(log *slog.Logger, cmd *exec.Cmd) {
	if log == nil || !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug("running " + CommandLine(cmd.Args))
}

// CommandLine joins args as a shell would read them back.
func CommandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~") {
			q[i] = strconv.Quote(a)
		}
	}
	return strings.Join(q, " ")
}

// Client returns a copy of c (http.DefaultClient when nil) whose requests
// are logged at debug level: "GET URL: 200 OK".
func Client(c *http.Client, log *slog.Logger) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	if log == nil {
		return c
	}
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = &transport{base: base, log: log}
	return &cc
}

type transport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	u := *req.URL
	u.User = nil // never log credentials
	switch {
	case err != nil:
		t.log.Debug(req.Method + " " + u.String() + ": " + err.Error())
	default:
		t.log.Debug(req.Method + " " + u.String() + ": " + resp.Status)
	}
	return resp, err
}
