// Package child runs the external tools of a bake (debugfs, btrfs,
// mkfs.btrfs, resize2fs, lbzip2, xorriso, ...) so that an interrupt ends
// them with their own children: each tool starts in a process group of its
// own, and a cancelled context kills that whole group. It also owns the
// table of which Debian package provides each tool (Packages, LookPath),
// and running a tool that must see files as owned by root (AsRoot,
// Unshare: directly as root, else in a user namespace mapping the caller
// to root). It is the one runner: internal/archtest refuses os/exec calls
// elsewhere.
package child

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// waitDelay bounds how long Wait waits for the output pipes of a killed
// tool (a grandchild outside the group could hold them open).
const waitDelay = 2 * time.Second

// Command is exec.CommandContext for a tool in its own process group:
// cancelling ctx sends SIGKILL to the group, not only to the tool. The
// tool also gets SIGKILL when this process dies (killed with SIGKILL
// itself, say).
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = waitDelay
	return cmd
}

// KillAll sends SIGKILL to every child process of this process and to the
// process group each one leads. It is for a process about to exit without
// waiting for its tools (a second interrupt).
func KillAll() {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, pgid, ok := parentAndGroup(pid); ok && ppid == self {
			if pgid == pid {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// parentAndGroup reads the parent pid and process group of pid from
// /proc/PID/stat.
func parentAndGroup(pid int) (ppid, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	return ppid, pgid, err1 == nil && err2 == nil
}

// Run runs cmd, made by Command with ctx, and returns what it wrote to
// stdout and stderr (unless the caller set them). It is the one runner of
// the tools: when ctx ended during the run the tool was killed for it,
// and the error wraps ctx's error (errors.Is(err, context.Canceled)), not
// the "signal: killed" of the exit status; otherwise a failed exit is an
// *exec.ExitError.
func Run(ctx context.Context, cmd *exec.Cmd) (stdout, stderr []byte, err error) {
	var out, errb bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	err = cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%s stopped: %w", filepath.Base(cmd.Path), ctx.Err())
	}
	return out.Bytes(), errb.Bytes(), err
}

// AsRoot is Command for a tool that must see files as owned by root (it
// records owners, as mkfs and debugfs do): as root it runs the tool
// directly; otherwise under "unshare --map-root-user", a user namespace
// in which the caller is uid 0, so files the caller owns are root's.
func AsRoot(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	return Unshare(ctx, nil, name, args...)
}

// Unshare is Command for name run by unshare(1) in the namespaces ns
// (e.g. "--mount"), plus, when the caller is not root, a user namespace
// mapping it to root (--map-root-user). With no ns, root runs name
// directly. Missing tools give NotFound errors.
func Unshare(ctx context.Context, ns []string, name string, args ...string) (*exec.Cmd, error) {
	if _, err := LookPath(name); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		ns = append([]string{"--map-root-user"}, ns...)
	}
	if len(ns) == 0 {
		return Command(ctx, name, args...), nil
	}
	if _, err := LookPath("unshare"); err != nil {
		return nil, fmt.Errorf("running %s in a namespace needs unshare: %w", name, err)
	}
	return Command(ctx, "unshare", append(append(ns, name), args...)...), nil
}
