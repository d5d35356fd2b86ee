package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockName is the lock file a run holds in its output directory. It
// exists while a run writes there (and after a run was killed, until the
// next run in that directory); it is never an output.
const LockName = ".bake-os.lock"

// DirLock is a run's claim on an output directory: an exclusive flock on
// DIR/.bake-os.lock holding the run's pid.
type DirLock struct {
	dir  string
	path string
	f    *os.File
}

// LockDir takes the output directory lock of dir without waiting. When
// another process holds it, the error names that process's pid.
func LockDir(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockName)
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("locking output directory %s: %w", dir, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			owner := readOwner(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another bake-os run (pid %s) is writing into %s: wait for it to finish or choose another --output-dir", owner, dir)
			}
			return nil, fmt.Errorf("locking output directory %s: %w", dir, err)
		}
		// The holder before us may have removed the file between our
		// open and our flock: then the lock is on a dead inode; retry.
		if same(f, path) {
			l := &DirLock{dir: dir, path: path, f: f}
			if err := l.writeOwner(); err != nil {
				l.Unlock()
				return nil, err
			}
			register(path)
			return l, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("locking output directory %s: %s keeps changing", dir, path)
}

func same(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

func readOwner(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if s := strings.TrimSpace(string(b[:n])); s != "" {
		if _, err := strconv.Atoi(s); err == nil {
			return s
		}
	}
	return "unknown"
}

func (l *DirLock) writeOwner() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	return nil
}

// RemoveStale removes the temporary files and directories (TempPrefix
// names) that earlier runs left in the locked directory when they were
// killed: those whose owning process no longer exists. It returns the
// names removed.
func (l *DirLock) RemoveStale() ([]string, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("reading output directory %s: %w", l.dir, err)
	}
	var removed []string
	for _, e := range ents {
		pid, ok := tempOwner(e.Name())
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		if err := removeTree(filepath.Join(l.dir, e.Name())); err != nil {
			return removed, fmt.Errorf("removing stale temp file of an earlier run: %w", err)
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Unlock removes the lock file and releases the lock. Removing it first,
// while still held, is safe: a run that opened the old file retries when it
// finds the path gone or replaced (see LockDir).
func (l *DirLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	Forget(l.path)
	_ = os.Remove(l.path)
	_ = l.f.Close()
	l.f = nil
}

// StaleAge is how old a dead run's temporary file in a shared directory
// must be before RemoveStaleIn removes it: the system temp directory may
// be shared with other PID namespaces, where a live run's pid looks dead.
const StaleAge = time.Hour

// RemoveStaleIn removes the temporary files and directories (TempPrefix
// names) in dir, such as the system temp directory, whose owning process
// no longer exists and which were last modified more than minAge ago.
// Other users' entries are left alone, even by root (in a shared
// directory their owner could swap a subdirectory for a symlink while it
// is removed), and so are entries it fails to remove; a directory
// another filesystem is mounted on is neither entered nor removed. It
// returns the names removed; the error is only for an unreadable dir.
func RemoveStaleIn(dir string, minAge time.Duration) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s for stale temp files: %w", dir, err)
	}
	cutoff := time.Now().Add(-minAge)
	var removed []string
	for _, e := range ents {
		pid, ok := tempOwner(e.Name())
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := os.Lstat(p)
		if err != nil || !st.ModTime().Before(cutoff) || !ownedBySelf(st) {
			continue
		}
		if removeTree(p) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}

// removeTree is os.RemoveAll that stays on path's filesystem: it neither
// enters nor removes a directory something is mounted on (a killed run's
// --mount mount point), so the mounted files are never deleted.
func removeTree(path string) error {
	parent, err := os.Lstat(filepath.Dir(path))
	if err != nil {
		return err
	}
	return removeOnDev(path, devOf(parent))
}

func removeOnDev(path string, dev uint64) error {
	st, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return os.Remove(path)
	}
	if devOf(st) != dev {
		return fmt.Errorf("not removing %s: a filesystem is mounted on it", path)
	}
	ents, err := os.ReadDir(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var first error
	for _, e := range ents {
		if err := removeOnDev(filepath.Join(path, e.Name()), dev); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func ownedBySelf(st os.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == os.Geteuid()
}

func devOf(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev)
	}
	return 0
}
