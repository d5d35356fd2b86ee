package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// TempPrefix starts the name of every temporary file and directory a run
// creates: TempPrefix + "<pid>-<random>-<name>". The pid names the owning
// process, so a later run can tell the leftovers of a killed run (see
// DirLock.RemoveStale) from the files of a live one.
const TempPrefix = ".bake-os-tmp-"

// registry holds the temporary paths of this process that still exist, for
// RemoveTemps. Once RemoveTemps has run the mutex stays held: no new
// temporary file can appear while the process exits.
var registry = struct {
	sync.Mutex
	paths map[string]bool
}{paths: map[string]bool{}}

// tempName returns a new temporary base name for name.
func tempName(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = strings.ReplaceAll(filepath.Base(name), string(filepath.Separator), "_")
	return fmt.Sprintf("%s%d-%s-%s", TempPrefix, os.Getpid(), hex.EncodeToString(b[:]), name)
}

// CreateTemp creates a new temporary file for name in dir ("" is the
// system's temp directory), opened for reading and writing with mode 0600,
// and records it for RemoveTemps. The caller renames it into place (then
// calls Forget) or removes it (Remove).
func CreateTemp(dir, name string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	registry.Lock()
	defer registry.Unlock()
	for range 10 {
		p := filepath.Join(dir, tempName(name))
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		registry.paths[p] = true
		return f, nil
	}
	return nil, fmt.Errorf("creating temp file for %s in %s: too many collisions", name, dir)
}

// MkdirTemp creates a new temporary directory for name in dir ("" is the
// system's temp directory) with mode 0700 and records it for RemoveTemps.
// The caller removes it with RemoveAll.
func MkdirTemp(dir, name string) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	registry.Lock()
	defer registry.Unlock()
	for range 10 {
		p := filepath.Join(dir, tempName(name))
		err := os.Mkdir(p, 0o700)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		registry.paths[p] = true
		return p, nil
	}
	return "", fmt.Errorf("creating temp directory for %s in %s: too many collisions", name, dir)
}

// Forget drops path from the record of temporary files (after it was
// renamed into place).
func Forget(path string) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.paths, path)
}

// Remove removes a temporary file or directory tree and forgets it. It
// does not enter a directory another filesystem is mounted on.
func Remove(path string) error {
	Forget(path)
	return removeTree(path)
}

// register records a path RemoveTemps must remove (the lock file).
func register(path string) {
	registry.Lock()
	defer registry.Unlock()
	registry.paths[path] = true
}

// RemoveTemps removes every temporary file and directory this process
// created and has not forgotten or removed, and blocks any later
// CreateTemp or MkdirTemp for good. It is for a process about to exit
// without running its deferred clean-ups (a second interrupt).
func RemoveTemps() {
	registry.Lock() // never unlocked: the process exits
	for p := range registry.paths {
		_ = removeTree(p)
	}
}

// tempOwner returns the pid in a TempPrefix name.
func tempOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, TempPrefix)
	if !ok {
		return 0, false
	}
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// CheckTarget is the rule for every output a run writes at path: an
// existing file is kept and the run refused, unless replace (--force) is
// given; a directory there is refused either way.
func CheckTarget(path string, replace bool) error {
	st, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking output %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("output %s is a directory: remove it or choose another --output-dir", path)
	}
	if !replace {
		return fmt.Errorf("%s exists: pass --force to replace it", path)
	}
	return nil
}

// FinalName returns the name a temporary path stands for (the <name> of
// CreateTemp), for messages and progress; other paths give their base
// name.
func FinalName(path string) string {
	base := filepath.Base(path)
	rest, ok := strings.CutPrefix(base, TempPrefix)
	if !ok {
		return base
	}
	if _, rest, ok = strings.Cut(rest, "-"); !ok {
		return base
	}
	if _, rest, ok = strings.Cut(rest, "-"); !ok || rest == "" {
		return base
	}
	return rest
}
