package partitions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/internal/corrupt"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// VFAT reads the FAT32 filesystem of the ESP through go-diskfs. Writes
// return ErrReadOnly. Every call into go-diskfs runs under corrupt.Guard:
// a damaged FAT is an error, never a panic.
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
	if err := checkFATGeometry(f, offset, length); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading FAT32 at offset %d of %s: %w", offset, image, err)
	}
	var fsys *fat32.FileSystem
	err = corrupt.Guard(fatKind, func() (err error) {
		fsys, err = fat32.Read(file.New(f, true), length, offset, 512)
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading FAT32 at offset %d of %s: %w", offset, image, err)
	}
	return &VFAT{f: f, fs: fsys}, nil
}

// fatKind names the ESP's filesystem in corrupt-image errors.
const fatKind = "FAT filesystem"

// checkFATGeometry refuses a boot sector whose geometry does not fit the
// partition before go-diskfs sizes reads and allocations from it (a FAT
// claiming 2 TiB would otherwise be read for minutes).
func checkFATGeometry(f *os.File, offset, length int64) error {
	bs := make([]byte, 512)
	if _, err := f.ReadAt(bs, offset); err != nil {
		return fmt.Errorf("reading boot sector: %w", err)
	}
	le16 := func(o int) int64 { return int64(bs[o]) | int64(bs[o+1])<<8 }
	le32 := func(o int) int64 { return le16(o) | le16(o+2)<<16 }
	sector, perCluster, reserved, fats := le16(11), int64(bs[13]), le16(14), int64(bs[16])
	fatSectors, rootCluster := le32(36), le32(44)
	corruptf := func(format string, a ...any) error {
		return fmt.Errorf("%w %s: %s", corrupt.ErrCorrupt, fatKind, fmt.Sprintf(format, a...))
	}
	if le16(22) != 0 {
		return errors.New("a FAT12/16 boot sector: only FAT32 ESPs are read")
	}
	switch {
	case sector != 512 && sector != 1024 && sector != 2048 && sector != 4096:
		return corruptf("%d bytes per sector", sector)
	case perCluster == 0 || perCluster&(perCluster-1) != 0:
		return corruptf("%d sectors per cluster", perCluster)
	case fats == 0 || fats > 4:
		return corruptf("%d FATs", fats)
	case reserved == 0 || fatSectors == 0:
		return corruptf("%d reserved sectors, %d sectors per FAT", reserved, fatSectors)
	case (reserved+fats*fatSectors)*sector >= length:
		return corruptf("reserved sectors and FATs (%d sectors of %d bytes) exceed the %d-byte partition", reserved+fats*fatSectors, sector, length)
	case rootCluster < 2:
		return corruptf("root directory in cluster %d", rootCluster)
	}
	return nil
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
	var f io.ReadCloser
	err := corrupt.Guard(fatKind, func() (err error) {
		f, err = v.fs.Open(fsPath(p))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return corrupt.Reader(fatKind, f), nil
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
	var ents []fs.DirEntry
	err := corrupt.Guard(fatKind, func() (err error) {
		ents, err = v.fs.ReadDir(fsPath(p))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", p, err)
	}
	var out []FileInfo
	for _, e := range ents {
		if e.Name() == "." || e.Name() == ".." {
			continue
		}
		var fi fs.FileInfo
		if err := corrupt.Guard(fatKind, func() (err error) { fi, err = e.Info(); return err }); err != nil {
			return nil, fmt.Errorf("listing %s: %w", p, err)
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
