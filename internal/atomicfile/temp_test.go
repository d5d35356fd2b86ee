package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/testutil"
)

func TestTempNames(t *testing.T) {
	dir := t.TempDir()
	f, err := CreateTemp(dir, "flatcar_production_image.bin")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := MkdirTemp(dir, "vendors")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{f.Name(): "flatcar_production_image.bin", d: "vendors"} {
		base := filepath.Base(p)
		if !strings.HasPrefix(base, TempPrefix+strconv.Itoa(os.Getpid())+"-") {
			t.Errorf("%s: not a recognisable temp name", base)
		}
		if pid, ok := tempOwner(base); !ok || pid != os.Getpid() {
			t.Errorf("%s: owner %d %v", base, pid, ok)
		}
		if got := FinalName(p); got != want {
			t.Errorf("FinalName(%s) = %s, want %s", base, got, want)
		}
	}
	if got := FinalName("/x/plain.img"); got != "plain.img" {
		t.Errorf("FinalName of a plain path: %s", got)
	}
	Remove(f.Name())
	Remove(d)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left: %v", ents)
	}
}

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.img")
	if err := CheckTarget(p, false); err != nil {
		t.Errorf("missing output: %v", err)
	}
	os.WriteFile(p, []byte("old"), 0o644)
	if err := CheckTarget(p, false); err == nil || !strings.Contains(err.Error(), p+" exists: pass --force to replace it") {
		t.Errorf("existing output: %v", err)
	}
	if err := CheckTarget(p, true); err != nil {
		t.Errorf("existing output with force: %v", err)
	}
	if err := CheckTarget(dir, true); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory as output: %v", err)
	}
}

// TestLockDir: a second lock is refused naming the holder's pid; stale
// temp files of dead processes go, those of live ones and other files
// stay; unlocking removes the lock file.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	// A process that has exited: its pid is dead (reused pids are
	// unlikely within the test).
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	names := map[string]bool{ // name -> stale
		TempPrefix + strconv.Itoa(dead) + "-0a1b2c3d4e5f-flatcar_production_image.bin": true,
		TempPrefix + strconv.Itoa(dead) + "-0a1b2c3d4e5f-vendors":                      true,
		TempPrefix + "1-0a1b2c3d4e5f-x":                                                false, // pid 1 lives
		TempPrefix + strconv.Itoa(os.Getpid()) + "-0a1b2c3d4e5f-mine":                  false,
		"flatcar_production_image.bin":                                                 false,
		".bake-os-tmp-notapid-x":                                                       false,
	}
	for n := range names {
		if strings.HasSuffix(n, "vendors") {
			os.MkdirAll(filepath.Join(dir, n, "sub"), 0o755)
			continue
		}
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDir(dir); err == nil || !strings.Contains(err.Error(),
		"another bake-os run (pid "+strconv.Itoa(os.Getpid())+") is writing into "+dir) {
		t.Errorf("second lock: %v", err)
	}
	removed, err := l.RemoveStale()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("removed %v", removed)
	}
	for n, stale := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); (err == nil) == stale {
			t.Errorf("%s: exists %v, stale %v", n, err == nil, stale)
		}
	}
	l.Unlock()
	if _, err := os.Lstat(filepath.Join(dir, LockName)); err == nil {
		t.Error("lock file left after Unlock")
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

// deadPid returns the pid of a process that has exited (reused pids are
// unlikely within a test).
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestRemoveStaleIn: in a shared temp directory only a dead run's entries
// older than the age go; a live pid's, this process's, a dead run's fresh
// entry and other names stay.
func TestRemoveStaleIn(t *testing.T) {
	dir := t.TempDir()
	dead := strconv.Itoa(deadPid(t))
	old := time.Now().Add(-2 * time.Hour)
	type entry struct {
		dir, old, stale bool
	}
	names := map[string]entry{
		TempPrefix + dead + "-0a1b2c3d4e5f-spool.raw":                 {old: true, stale: true},
		TempPrefix + dead + "-0a1b2c3d4e5f-ext4-spool":                {dir: true, old: true, stale: true},
		TempPrefix + dead + "-0a1b2c3d4e5f-fresh":                     {dir: true},
		TempPrefix + "1-0a1b2c3d4e5f-x":                               {old: true}, // pid 1 lives
		TempPrefix + strconv.Itoa(os.Getpid()) + "-0a1b2c3d4e5f-mine": {old: true},
		"bake-os-mnt-123":        {dir: true, old: true},
		".bake-os-tmp-notapid-x": {old: true},
	}
	for n, e := range names {
		p := filepath.Join(dir, n)
		if e.dir {
			if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(p, "sub", "f"), []byte("x"), 0o600)
		} else {
			os.WriteFile(p, []byte("x"), 0o600)
		}
		if e.old {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed, err := RemoveStaleIn(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("removed %v, want the two old entries of the dead pid", removed)
	}
	for n, e := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); (err == nil) == e.stale {
			t.Errorf("%s: exists %v, stale %v", n, err == nil, e.stale)
		}
	}
	if _, err := RemoveStaleIn(filepath.Join(dir, "missing"), time.Hour); err == nil {
		t.Error("a missing directory gave no error")
	}
}

// TestRemoveStaleInOthers: even root leaves another user's stale entry
// alone, and never enters a directory with a filesystem mounted on it (a
// killed --mount run's mount point).
func TestRemoveStaleInOthers(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	dead := strconv.Itoa(deadPid(t))
	old := time.Now().Add(-2 * time.Hour)
	other := filepath.Join(dir, TempPrefix+dead+"-0a1b2c3d4e5f-other")
	os.WriteFile(other, []byte("x"), 0o600)
	if err := os.Lchown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, TempPrefix+dead+"-0a1b2c3d4e5f-work")
	mnt := filepath.Join(work, "mnt")
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer syscall.Unmount(mnt, syscall.MNT_DETACH)
	kept := filepath.Join(mnt, "kept")
	os.WriteFile(kept, []byte("x"), 0o600)
	for _, p := range []string{other, work} {
		os.Chtimes(p, old, old)
	}
	removed, err := RemoveStaleIn(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 {
		t.Errorf("removed %v", removed)
	}
	for _, p := range []string{other, kept} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	// The same for RemoveTemps' and Remove's path.
	if err := Remove(work); err == nil {
		t.Error("Remove of a tree with a mount point in it succeeded")
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("Remove deleted a file on the mounted filesystem: %v", err)
	}
}
