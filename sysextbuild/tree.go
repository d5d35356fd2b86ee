package sysextbuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// ErrUsrSbin is wrapped by the error for a tree that has usr/sbin.
var ErrUsrSbin = errors.New("tree has usr/sbin")

// checkTree validates a sysext tree before packing: dir must be a
// directory, usr/sbin must not exist (on Flatcar /usr/sbin is a symlink to
// /usr/bin; an extension's usr/sbin would hide it), and top-level entries
// other than usr and opt are reported to warn, since systemd-sysext ignores
// them.
func checkTree(dir string, warn func(string)) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("reading sysext tree: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("sysext tree %s is not a directory", dir)
	}
	if _, err := os.Lstat(filepath.Join(dir, "usr", "sbin")); err == nil {
		return fmt.Errorf("%w: %s: move its files to usr/bin (on Flatcar /usr/sbin links to /usr/bin and would be hidden)",
			ErrUsrSbin, filepath.Join(dir, "usr", "sbin"))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking for usr/sbin: %w", err)
	}
	if err := checkReadable(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading sysext tree: %w", err)
	}
	var outside []string
	for _, e := range entries {
		switch e.Name() {
		case "usr", "opt":
			if !e.IsDir() {
				return fmt.Errorf("%s in sysext tree %s is not a directory", e.Name(), dir)
			}
		default:
			outside = append(outside, e.Name())
		}
	}
	sort.Strings(outside)
	if warn != nil {
		for _, n := range outside {
			warn(fmt.Sprintf("%s: %s is outside usr/ and opt/; systemd-sysext ignores it", dir, n))
		}
	}
	return nil
}

// ErrUnreadable is wrapped by the error for a tree holding a file or
// directory the packing user cannot read.
var ErrUnreadable = errors.New("unreadable in the sysext tree")

// checkReadable opens every directory and regular file of the tree once,
// so that one the packing user cannot read is an error naming it. The
// packing tools do not stop on such files: mksquashfs, run as a non-root
// user, stores an unreadable file as an empty one and leaves an
// unreadable directory out, and still exits 0.
func checkReadable(dir string) error {
	unreadable := func(p string, err error) error {
		return fmt.Errorf("%s is %w (%v): make it readable by the packing user (chmod, or pack as its owner)", p, ErrUnreadable, errors.Unwrap(err))
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// WalkDir reports a directory it cannot list here.
			return unreadable(p, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return unreadable(p, err)
		}
		return f.Close()
	})
}
