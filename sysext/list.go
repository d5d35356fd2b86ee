package sysext

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/corrupt"
)

// MaxEntries bounds how many paths List returns, so that a hostile image
// with millions of inodes ends in an error instead of exhausting memory.
const MaxEntries = 1 << 20

// Entry is one path inside a sysext image.
type Entry struct {
	Path string      // relative, slash-separated, e.g. "usr/bin/hello"
	Mode fs.FileMode // type bits only (fs.ModeDir, fs.ModeSymlink, ...; 0 for a regular file)
}

// List returns every path inside the sysext image at image, sorted,
// without the root itself. squashfs is walked in-process (falling back to
// "unsquashfs -lln" for compressors go-diskfs lacks); erofs, ext4 and
// btrfs are unpacked into a temporary directory by their own tools
// (fsck.erofs, debugfs rdump, btrfs restore) and walked there. ext4's
// lost+found is left out: mke2fs makes it, not the extension's author.
func List(image string) ([]Entry, error) {
	format, err := DetectFormat(image)
	if err != nil {
		return nil, err
	}
	var list []Entry
	switch format {
	case FormatSquashfs:
		if err := squashfsComplete(image); err != nil {
			return nil, err
		}
		list, err = listSquashfs(image)
		if err != nil && !errors.Is(err, errTooMany) {
			list, err = listUnsquashfs(image)
		}
	case FormatErofs:
		list, err = listExtracted(image, "fsck.erofs", func(dir string) []string {
			return []string{"--extract=" + dir, "--force", "--no-preserve", image}
		})
	case FormatExt4:
		list, err = listExtracted(image, "debugfs", func(dir string) []string {
			return []string{"-R", "rdump / " + dir, image}
		})
		kept := list[:0]
		for _, e := range list {
			if e.Path != "lost+found" && !strings.HasPrefix(e.Path, "lost+found/") {
				kept = append(kept, e)
			}
		}
		list = kept
	case FormatBtrfs:
		list, err = listExtracted(image, "btrfs", func(dir string) []string {
			return []string{"restore", "-S", image, dir}
		})
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s (%s): %w", image, format, err)
	}
	for i := range list {
		list[i].Mode &= fs.ModeType
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	return list, nil
}

// squashfsComplete refuses a squashfs image shorter than its superblock's
// bytes_used (offset 40): a truncated download or copy.
func squashfsComplete(image string) error {
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var b [8]byte
	if _, err := f.ReadAt(b[:], 40); err != nil {
		return fmt.Errorf("%s: reading the squashfs superblock: %w", image, err)
	}
	if used := binary.LittleEndian.Uint64(b[:]); used > uint64(st.Size()) {
		return fmt.Errorf("%s is truncated: its squashfs superblock says %d bytes, the file has %d", image, used, st.Size())
	}
	return nil
}

var errTooMany = fmt.Errorf("more than %d paths", MaxEntries)

// listSquashfs lists a squashfs image with go-diskfs; a panic inside it
// (a corrupt image) is an error wrapping corrupt.ErrCorrupt, and the
// caller falls back to unsquashfs.
func listSquashfs(image string) (out []Entry, err error) {
	err = corrupt.Guard("squashfs image", func() error {
		out, err = listSquashfsUnguarded(image)
		return err
	})
	return out, err
}

func listSquashfsUnguarded(image string) ([]Entry, error) {
	sq, closeImage, err := openSquashfs(image)
	if err != nil {
		return nil, err
	}
	defer closeImage()
	var out []Entry
	var walk func(dir string) error
	walk = func(dir string) error {
		infos, err := sq.ReadDir("/" + dir)
		if err != nil {
			return err
		}
		for _, fi := range infos {
			if len(out) >= MaxEntries {
				return errTooMany
			}
			p := path.Join(dir, fi.Name())
			out = append(out, Entry{Path: p, Mode: fi.Type()})
			if fi.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return out, nil
}

// listUnsquashfs parses the output of unsquashfs -lln with an empty -d: a mode string, owner,
// size, date, time, then the path (" -> target" for a symlink).
func listUnsquashfs(image string) ([]Entry, error) {
	if err := lookTool("unsquashfs"); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := child.Command(context.Background(), "unsquashfs", "-lln", "-d", "", image)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("unsquashfs -lln: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var out []Entry
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 6 || len(f[0]) != 10 {
			continue
		}
		// The path starts after the fifth field (the time).
		rest := line
		for i := 0; i < 5; i++ {
			rest = strings.TrimLeft(rest, " ")
			rest = rest[strings.IndexByte(rest, ' ')+1:]
		}
		rest = strings.TrimLeft(rest, " ")
		mode := unixModeString(f[0])
		if mode&fs.ModeSymlink != 0 {
			rest, _, _ = strings.Cut(rest, " -> ")
		}
		p := strings.TrimPrefix(rest, "/")
		if p == "" {
			continue
		}
		if len(out) >= MaxEntries {
			return nil, errTooMany
		}
		out = append(out, Entry{Path: p, Mode: mode})
	}
	return out, sc.Err()
}

// unixModeString turns "drwxr-xr-x" into an fs.FileMode.
func unixModeString(s string) fs.FileMode {
	var m fs.FileMode
	switch s[0] {
	case 'd':
		m = fs.ModeDir
	case 'l':
		m = fs.ModeSymlink
	case 'c':
		m = fs.ModeDevice | fs.ModeCharDevice
	case 'b':
		m = fs.ModeDevice
	case 'p':
		m = fs.ModeNamedPipe
	case 's':
		m = fs.ModeSocket
	}
	for i, c := range s[1:10] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	return m
}

// listExtracted unpacks the image with a tool and walks the result.
func listExtracted(image, tool string, args func(dir string) []string) ([]Entry, error) {
	if err := lookTool(tool); err != nil {
		return nil, err
	}
	dir, err := atomicfile.MkdirTemp("", "sysext-list")
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", image, err)
	}
	defer atomicfile.Remove(dir)
	out, err := child.Command(context.Background(), tool, args(dir)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", tool, err, strings.TrimSpace(string(out)))
	}
	var list []Entry
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if len(list) >= MaxEntries {
			return errTooMany
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		list = append(list, Entry{Path: filepath.ToSlash(rel), Mode: fi.Mode() & (fs.ModeType | fs.ModePerm)})
		return nil
	})
	return list, err
}
