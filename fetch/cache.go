package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bake-os/bake-os/internal/atomicfile"
)

// cachePath maps a URL to its place in the cache:
// CACHE/files/<host>/<path>. It refuses URLs whose path would leave that
// directory.
func cachePath(cacheDir, rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parsing URL %q: %w", rawURL, err)
	}
	host := strings.NewReplacer(":", "_", "/", "_").Replace(u.Host)
	if host == "" || host == "." || host == ".." {
		host = "_"
	}
	p := u.Path
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("URL %q has a \"..\" path segment", rawURL)
		}
	}
	p = path.Clean("/" + p)
	if p == "/" {
		return "", fmt.Errorf("URL %q names no file", rawURL)
	}
	return filepath.Join(cacheDir, "files", host, filepath.FromSlash(p)), nil
}

// writeFileAtomic writes data to a temp file beside path, syncs it and
// renames it over path.
func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }

// commitFile renames a finished, synced file into place.
func commitFile(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return syncDir(filepath.Dir(to))
}

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// lockEntry takes an exclusive lock on a cache entry (path.lock) so that
// two processes sharing the cache do not write the same partial file. It
// blocks until the other process is done. The lock file exists only while
// it is held: unlock removes it, so no run, failed or not, leaves a .lock
// behind (one left by a killed run is harmless and reused).
//
// Removing a lock file races with a waiter that opened it before the
// removal and gets the lock after it; so after locking, the holder checks
// that the path still names the file it locked, and starts over if not.
func lockEntry(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	name := path + ".lock"
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(name)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return func() {
				_ = os.Remove(name) // while still holding the lock
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		// The previous holder removed it while we waited: take the new one.
		f.Close()
		if err1 != nil {
			return nil, err1
		}
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, err2
		}
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readOptional reads path; a missing file gives nil, nil.
func readOptional(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// fresh reports whether path exists and is younger than maxAge.
func fresh(path string, maxAge time.Duration) bool {
	st, err := os.Stat(path)
	return err == nil && time.Since(st.ModTime()) < maxAge
}

func offlineError(what, rawURL, cached string) error {
	return fmt.Errorf("%s (%s) is missing from the cache at %s: %w; run once without --offline to fetch it", what, rawURL, cached, ErrOffline)
}
