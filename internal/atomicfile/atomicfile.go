// Package atomicfile owns how bake-os writes files so that nobody sees a
// part of one: outputs are written as recognisable temporary files
// (TempPrefix) beside their final name and renamed into place; small files
// are written, synced and renamed in one call (WriteFile). It also owns a
// run's claim on its output directory (LockDir), the making of every
// temporary file and directory (CreateTemp, MkdirTemp) and their removal:
// its own on an interrupt (RemoveTemps) and those of killed earlier runs
// (DirLock.RemoveStale in an output directory, RemoveStaleIn in the
// system temp directory).
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes data to path atomically with mode 0644, making the
// directory when missing.
func WriteFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := CreateTemp(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	Forget(tmp)
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a rename in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
