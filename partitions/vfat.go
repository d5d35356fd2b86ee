package partitions

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// VFAT reads the FAT32 filesystem of the ESP through go-diskfs. Writes
// return ErrReadOnly.
type VFAT struct {
	f  *os.File
	fs *fat32.FileSystem
}

// OpenVFAT opens the FAT32 filesystem at [offset, offset+length) of image.
func OpenVFAT(image string, offset, length int64) (*VFAT, error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", image, err)
	}
	fsys, err := fat32.Read(file.New(f, true), length, offset, 512)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading FAT32 at offset %d of %s: %w", offset, image, err)
	}
	return &VFAT{f: f, fs: fsys}, nil
}

func fsPath(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

func (v *VFAT) MkdirAll(string, fs.FileMode) error             { return ErrReadOnly }
func (v *VFAT) WriteFile(string, io.Reader, fs.FileMode) error { return ErrReadOnly }
func (v *VFAT) Symlink(string, string) error                   { return ErrReadOnly }
func (v *VFAT) Chmod(string, fs.FileMode) error                { return ErrReadOnly }
func (v *VFAT) Remove(string) error                            { return ErrReadOnly }
func (v *VFAT) Chown(string, int, int) error                   { return ErrReadOnly }
func (v *VFAT) Commit(context.Context) error                   { return nil }

// Open implements Editor.
func (v *VFAT) Open(p string) (io.ReadCloser, error) {
	f, err := v.fs.Open(fsPath(p))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return f, nil
}

// Stat implements Editor. FAT has no owners: everything is root's.
func (v *VFAT) Stat(p string) (FileInfo, error) {
	if fsPath(p) == "." {
		return FileInfo{Name: "/", Mode: fs.ModeDir | 0o755}, nil
	}
	list, err := v.ReadDir(path.Dir(path.Clean("/" + p)))
	if err != nil {
		return FileInfo{}, err
	}
	for _, fi := range list {
		if strings.EqualFold(fi.Name, path.Base(p)) {
			return fi, nil
		}
	}
	return FileInfo{}, fmt.Errorf("stat %s: %w", p, fs.ErrNotExist)
}

// ReadDir implements Editor.
func (v *VFAT) ReadDir(p string) ([]FileInfo, error) {
	ents, err := v.fs.ReadDir(fsPath(p))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", p, err)
	}
	var out []FileInfo
	for _, e := range ents {
		if e.Name() == "." || e.Name() == ".." {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		mode := fs.FileMode(0o644)
		if e.IsDir() {
			mode = fs.ModeDir | 0o755
		}
		out = append(out, FileInfo{Name: e.Name(), Mode: mode, Size: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// FreeBytes implements Editor; the ESP is read-only here.
func (v *VFAT) FreeBytes() (int64, error) { return 0, nil }

// Close implements Editor.
func (v *VFAT) Close() error { return v.f.Close() }
