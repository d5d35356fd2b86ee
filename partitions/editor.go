package partitions

import (
	"context"
	"errors"
	"io"
	"io/fs"
)

// ErrReadOnly is returned by editors that cannot write.
var ErrReadOnly = errors.New("filesystem is opened read-only")

// ErrNotExist is wrapped by lookups of missing paths.
var ErrNotExist = fs.ErrNotExist

// FileInfo describes one directory entry (lstat semantics: symlinks are not
// followed).
type FileInfo struct {
	Name       string
	Mode       fs.FileMode // type bits and permissions, in Go's encoding
	Size       int64
	UID, GID   int
	LinkTarget string // for symlinks
}

// Editor edits the filesystem inside one partition. Paths are absolute
// within that filesystem ("/opt/extensions/x.raw"). Changes may be
// buffered; Commit makes them durable in the image, Close releases
// resources (without Commit, buffered changes are dropped).
type Editor interface {
	// MkdirAll makes path and missing parents, root-owned with perm.
	MkdirAll(path string, perm fs.FileMode) error
	// WriteFile streams src into path (replacing any file there),
	// root-owned with perm; missing parents are made 0755.
	WriteFile(path string, src io.Reader, perm fs.FileMode) error
	// Symlink makes path a symlink to target, replacing an existing
	// entry; missing parents are made 0755.
	Symlink(target, path string) error
	// Remove deletes a file, a symlink (not its target) or an empty
	// directory.
	Remove(path string) error
	Chmod(path string, perm fs.FileMode) error
	Chown(path string, uid, gid int) error
	// Open reads a regular file.
	Open(path string) (io.ReadCloser, error)
	// Stat describes path without following a final symlink.
	Stat(path string) (FileInfo, error)
	// ReadDir lists a directory (without . and ..), sorted by name.
	ReadDir(path string) ([]FileInfo, error)
	// FreeBytes is the space left for new file data.
	FreeBytes() (int64, error)
	Commit(ctx context.Context) error
	Close() error
}
