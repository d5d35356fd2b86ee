// Package cpio owns the SVR4 "newc" cpio writer: the archive format the
// Linux kernel unpacks as an initramfs. bake-os writes the ISO and PXE
// initrds (usr.squashfs) and the extra Ignition initrd with it. Entries
// are owned by root, carry one fixed modification time, and directories
// come before what they hold.
package cpio

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Mode bits of the entry types the writer makes.
const (
	modeDir  = 0o040000
	modeFile = 0o100000
)

// Writer writes a newc archive to an io.Writer. Close writes the trailer.
type Writer struct {
	w     io.Writer
	n     int64
	ino   uint32
	mtime uint32
	dirs  map[string]bool
	// remaining bytes of the current file's data; its padding is
	// written before the next header.
	left int64
	err  error
}

// NewWriter returns a Writer stamping every entry with mtime (Unix
// seconds).
func NewWriter(w io.Writer, mtime int64) *Writer {
	return &Writer{w: w, mtime: uint32(mtime), dirs: map[string]bool{}}
}

func (c *Writer) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

func (c *Writer) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// cleanName checks an archive path: relative, clean, no "..".
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || name == "." ||
		name == ".." || strings.HasPrefix(name, "../") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("cpio entry %q: want a clean relative path", name)
	}
	return name, nil
}

func (c *Writer) header(name string, mode uint32, size int64) {
	if c.left != 0 && c.err == nil {
		c.err = fmt.Errorf("cpio entry before the previous file's %d remaining bytes", c.left)
	}
	c.pad()
	if size > 0xffffffff {
		c.err = fmt.Errorf("cpio entry %s: %d bytes is more than newc holds", name, size)
		return
	}
	c.ino++
	nlink := uint32(1)
	if mode&modeDir != 0 {
		nlink = 2
	}
	// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
	fields := []uint32{c.ino, mode, 0, 0, nlink, c.mtime, uint32(size), 0, 0, 0, 0, uint32(len(name) + 1), 0}
	var b strings.Builder
	b.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	c.write([]byte(b.String()))
	c.pad()
}

// Dir adds directory name (mode perm) and, first, its parents (0755)
// not yet added.
func (c *Writer) Dir(name string, perm uint32) error {
	name, err := cleanName(name)
	if err != nil {
		return err
	}
	if parent := path.Dir(name); parent != "." && !c.dirs[parent] {
		if err := c.Dir(parent, 0o755); err != nil {
			return err
		}
	}
	if c.dirs[name] {
		return nil
	}
	c.dirs[name] = true
	c.header(name, modeDir|perm&0o7777, 0)
	return c.err
}

// File adds a regular file name of size bytes (mode perm), with its
// missing parent directories; its data follows through Write.
func (c *Writer) File(name string, perm uint32, size int64) error {
	name, err := cleanName(name)
	if err != nil {
		return err
	}
	if c.dirs[name] {
		return fmt.Errorf("cpio entry %s: already a directory", name)
	}
	if parent := path.Dir(name); parent != "." {
		if err := c.Dir(parent, 0o755); err != nil {
			return err
		}
	}
	c.header(name, modeFile|perm&0o7777, size)
	c.left = size
	return c.err
}

// Write writes the current file's data; more than its size is an error.
func (c *Writer) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left {
		return 0, errors.New("cpio: more data than the entry's size")
	}
	before := c.n
	c.write(p)
	n := int(c.n - before)
	c.left -= int64(n)
	return n, c.err
}

// Close writes the trailer; it does not close the underlying writer.
func (c *Writer) Close() error {
	if c.left != 0 && c.err == nil {
		c.err = fmt.Errorf("cpio: the last file lacks %d bytes", c.left)
	}
	c.header("TRAILER!!!", 0, 0)
	c.pad()
	return c.err
}
