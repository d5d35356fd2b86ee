package sysextbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
)

// ErrToolMissing is wrapped by the error returned when a format's external
// tool is not installed.
var ErrToolMissing = errors.New("tool not found")

// lookTool finds an external tool in PATH. A missing tool is child's
// one-line "NAME not found: install PKG" error, also matching
// ErrToolMissing.
func lookTool(name string) (string, error) {
	p, err := child.LookPath(name)
	if err != nil {
		return "", toolMissing{err}
	}
	return p, nil
}

// toolMissing is child.LookPath's error that also matches ErrToolMissing.
type toolMissing struct{ error }

func (e toolMissing) Unwrap() []error { return []error{e.error, ErrToolMissing} }

// runTool runs an external tool with an environment from which
// SOURCE_DATE_EPOCH and E2FSPROGS_FAKE_TIME are removed (we pass times
// explicitly, and mksquashfs refuses both), plus extraEnv. It returns the
// tool's stdout and stderr; on failure the error carries the last lines
// of its output.
func runTool(ctx context.Context, extraEnv []string, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	path, err := lookTool(name)
	if err != nil {
		return nil, nil, err
	}
	cmd := child.Command(ctx, path, args...)
	env := make([]string, 0, len(os.Environ())+len(extraEnv))
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") || strings.HasPrefix(kv, "E2FSPROGS_FAKE_TIME=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, extraEnv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	runlog.Tool(runlog.From(ctx), cmd)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return out.Bytes(), errOut.Bytes(), fmt.Errorf("running %s: %w: %s", name, err, lastLines(out.String()+"\n"+errOut.String(), 8))
	}
	return out.Bytes(), errOut.Bytes(), nil
}

// lastLines keeps the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
