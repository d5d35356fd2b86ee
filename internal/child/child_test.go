package child

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startGroup starts sh, which starts a sleep of its own and records its
// pid in dir/pid; it returns the sh and sleep pids.
func startGroup(t *testing.T, ctx context.Context) (wait func() error, shPid, sleepPid int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := Command(ctx, "sh", "-c", `sleep 60 & echo $! > "$0.tmp"; mv "$0.tmp" "$0"; wait`, pidFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(pidFile); err == nil {
			sleepPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sh did not start its sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { cmd.Process.Kill(); killPid(sleepPid) })
	return cmd.Wait, cmd.Process.Pid, sleepPid
}

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

// gone waits up to 10 s for pid to end (a zombie counts as ended).
func gone(pid int) bool {
	for i := 0; i < 500; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		s := string(b)
		if j := strings.LastIndexByte(s, ')'); j > 0 && strings.HasPrefix(strings.TrimSpace(s[j+1:]), "Z") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestCancelKillsGroup: cancelling the context ends the tool and what it
// started (plain exec.CommandContext would leave the sleep running).
func TestCancelKillsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	wait, sh, sleep := startGroup(t, ctx)
	cancel()
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("cancelled tool reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	if !gone(sh) || !gone(sleep) {
		t.Errorf("still running: sh %d %v, sleep %d %v", sh, !gone(sh), sleep, !gone(sleep))
	}
}

// TestKillAll ends every child and its group without a context.
func TestKillAll(t *testing.T) {
	wait, sh, sleep := startGroup(t, context.Background())
	KillAll()
	go wait()
	if !gone(sh) || !gone(sleep) {
		t.Errorf("still running after KillAll: sh %d, sleep %d", sh, sleep)
	}
}

func TestParentAndGroup(t *testing.T) {
	ppid, pgid, ok := parentAndGroup(os.Getpid())
	if !ok || ppid != os.Getppid() || pgid <= 0 {
		t.Errorf("parentAndGroup(self) = %d %d %v", ppid, pgid, ok)
	}
}

// TestAsRootAndUnshare: AsRoot's tool runs as uid 0 (directly for root);
// Unshare's mount namespace is private: a tmpfs mounted inside is not
// seen outside. (As non-root, the user-namespace path runs in partitions'
// and btrfsfix's non-root tests.)
func TestAsRootAndUnshare(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs as root; the non-root path is tested in partitions")
	}
	ctx := context.Background()
	cmd, err := AsRoot(ctx, "id", "-u")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(cmd.Path) != "id" {
		t.Errorf("as root AsRoot runs %s, want id directly", cmd.Path)
	}
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("id -u: %q %v", out, err)
	}
	dir := t.TempDir()
	cmd, err = Unshare(ctx, []string{"--mount"}, "sh", "-c", `mount -t tmpfs none "$0" && touch "$0/inside"`, dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "inside")); err == nil {
		t.Error("the namespace's tmpfs is visible outside it")
	}
	if _, err := AsRoot(ctx, "no-such-tool-bake-os"); err == nil || !strings.Contains(err.Error(), "no-such-tool-bake-os not found") {
		t.Errorf("missing tool: %v", err)
	}
}
