package partitions

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
)

// command builds an exec.Cmd for a tool that must see files as root-owned.
// As root it runs the tool directly; otherwise it runs it under
// "unshare --map-root-user", a user namespace in which the caller is uid 0,
// so files the caller owns are recorded as owned by root.
func command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	cmd, err := child.AsRoot(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	runlog.Tool(runlog.From(ctx), cmd)
	return cmd, nil
}

// runTool runs a tool (see command) and returns its stdout; failures carry
// the tool's stderr.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd, err := command(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	stdout, stderr, err := child.Run(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(stderr)))
	}
	return stdout, nil
}
