package sysext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/corrupt"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
)

// ErrNotFound is wrapped when the requested file is not in the image.
var ErrNotFound = fs.ErrNotExist

// ReadFile returns the content of path (relative, e.g.
// "usr/lib/extension-release.d/extension-release.foo") inside the sysext
// image at image.
func ReadFile(image, path string) ([]byte, error) {
	format, err := DetectFormat(image)
	if err != nil {
		return nil, err
	}
	path = strings.TrimPrefix(path, "/")
	switch format {
	case FormatSquashfs:
		data, err := readSquashfs(image, path)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return data, err
		}
		// go-diskfs lacks some compressors (lz4) and trips over some
		// damage unsquashfs reports cleanly: ask unsquashfs.
		data, uerr := readUnsquashfs(image, path)
		if uerr == nil || errors.Is(uerr, fs.ErrNotExist) || !errors.Is(err, corrupt.ErrCorrupt) {
			return data, uerr
		}
		return nil, fmt.Errorf("%w; %w", err, uerr)
	case FormatExt4:
		return readDebugfs(image, path)
	case FormatErofs:
		return readExtracted(image, path, "fsck.erofs", func(dir string) []string {
			return []string{"--extract=" + dir, "--force", "--no-preserve", image}
		})
	case FormatBtrfs:
		return readExtracted(image, path, "btrfs", func(dir string) []string {
			return []string{"restore", image, dir}
		})
	}
	return nil, fmt.Errorf("reading %s: unsupported format %s", image, format)
}

// maxFileSize bounds what ReadFile returns: extension-release files are
// a few hundred bytes.
const maxFileSize = 1 << 20

// readSquashfs reads path with go-diskfs. A panic inside go-diskfs (it
// trusts the image's fields) becomes an error wrapping corrupt.ErrCorrupt.
func readSquashfs(image, path string) (data []byte, err error) {
	err = corrupt.Guard("squashfs image", func() error {
		data, err = readSquashfsUnguarded(image, path)
		return err
	})
	if errors.Is(err, corrupt.ErrCorrupt) {
		err = fmt.Errorf("reading %s: %w", image, err)
	}
	return data, err
}

// openSquashfs opens a squashfs image with go-diskfs, which trusts the
// image's fields: call it under corrupt.Guard. close releases the file.
func openSquashfs(image string) (sq *squashfs.FileSystem, close func() error, err error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	sq, err = squashfs.Read(file.New(f, true), st.Size(), 0, 0)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading squashfs %s: %w", image, err)
	}
	return sq, f.Close, nil
}

func readSquashfsUnguarded(image, path string) ([]byte, error) {
	sq, closeImage, err := openSquashfs(image)
	if err != nil {
		return nil, err
	}
	defer closeImage()
	h, err := sq.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "does not exist") {
			return nil, fmt.Errorf("%s: %s: %w", image, path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("reading %s from %s: %w", path, image, err)
	}
	defer h.Close()
	data, err := io.ReadAll(io.LimitReader(h, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", path, image, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading %s from %s: larger than %d bytes", path, image, maxFileSize)
	}
	return data, nil
}

func lookTool(tool string) error {
	_, err := child.LookPath(tool)
	return err
}

func readUnsquashfs(image, path string) ([]byte, error) {
	if err := lookTool("unsquashfs"); err != nil {
		return nil, fmt.Errorf("reading %s: %w", image, err)
	}
	var stderr bytes.Buffer
	stdout := &cappedBuffer{max: maxFileSize}
	cmd := child.Command(context.Background(), "unsquashfs", "-cat", image, path)
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); stdout.over {
		return nil, fmt.Errorf("reading %s from %s: larger than %d bytes", path, image, maxFileSize)
	} else if err != nil {
		if strings.Contains(stderr.String(), "not found") || strings.Contains(stderr.String(), "No such file") || strings.Contains(stderr.String(), "does not exist") {
			return nil, fmt.Errorf("%s: %s: %w", image, path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("unsquashfs -cat %s %s: %w: %s", image, path, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func readDebugfs(image, path string) ([]byte, error) {
	if err := lookTool("debugfs"); err != nil {
		return nil, fmt.Errorf("reading %s: %w", image, err)
	}
	var stderr bytes.Buffer
	stdout := &cappedBuffer{max: maxFileSize}
	cmd := child.Command(context.Background(), "debugfs", "-R", "cat /"+path, image)
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); stdout.over {
		return nil, fmt.Errorf("reading %s from %s: larger than %d bytes", path, image, maxFileSize)
	} else if err != nil {
		return nil, fmt.Errorf("debugfs on %s: %w: %s", image, err, stderr.String())
	}
	if strings.Contains(stderr.String(), "File not found") {
		return nil, fmt.Errorf("%s: %s: %w", image, path, fs.ErrNotExist)
	}
	return stdout.Bytes(), nil
}

// readExtracted unpacks the whole image with a tool and reads path.
func readExtracted(image, path, tool string, args func(dir string) []string) ([]byte, error) {
	if err := lookTool(tool); err != nil {
		return nil, fmt.Errorf("reading %s: %w", image, err)
	}
	dir, err := atomicfile.MkdirTemp("", "sysext-read")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", image, err)
	}
	defer atomicfile.Remove(dir)
	out, err := child.Command(context.Background(), tool, args(dir)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w: %s", tool, image, err, strings.TrimSpace(string(out)))
	}
	// The extracted tree is the image's: a symlink in it must not lead
	// the read out of dir.
	fh, err := os.OpenInRoot(dir, filepath.FromSlash(path))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %s: %w", image, path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("reading %s from %s: %w", path, image, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", path, image, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading %s from %s: larger than %d bytes", path, image, maxFileSize)
	}
	return data, nil
}

// cappedBuffer keeps at most max bytes of a tool's output and notes when
// there was more.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		c.over = true
		return 0, errors.New("output too large")
	}
	return c.Buffer.Write(p)
}
