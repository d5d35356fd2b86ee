package sysextbuild

import (
	"context"
	"fmt"
	"strings"
)

// Format is a sysext image filesystem.
type Format string

// The formats systemd-sysext accepts (ext2 as a subset of ext4).
const (
	FormatSquashfs Format = "squashfs"
	FormatErofs    Format = "erofs"
	FormatExt4     Format = "ext4"
	FormatExt2     Format = "ext2"
	FormatBtrfs    Format = "btrfs"
)

// DefaultFormat is used when PackOptions.Format is empty.
const DefaultFormat = FormatSquashfs

// Formats lists every format in help order, the default first.
func Formats() []Format {
	return []Format{FormatSquashfs, FormatErofs, FormatExt4, FormatExt2, FormatBtrfs}
}

// ParseFormat accepts a format name, case-insensitively; "" is the default.
func ParseFormat(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return DefaultFormat, nil
	}
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, 0, len(Formats()))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown sysext format %q: use one of %s", s, strings.Join(names, ", "))
}

// Tools lists the external tools the format needs.
func (f Format) Tools() []string {
	switch f {
	case FormatSquashfs:
		return []string{"mksquashfs"}
	case FormatErofs:
		return []string{"mkfs.erofs"}
	case FormatExt4, FormatExt2:
		return []string{"mke2fs", "debugfs", "dumpe2fs"}
	case FormatBtrfs:
		return []string{"mkfs.btrfs"}
	}
	return nil
}

func (f Format) String() string { return string(f) }

// packJob is what a format writer gets: everything resolved and validated.
type packJob struct {
	dir     string // input tree, never modified
	name    string
	release []byte // extension-release file content
	epoch   int64
	out     string // temporary output path in the output directory
	scratch string // private temporary directory for staging
	extSize int64  // ext formats: filesystem size in bytes, 0 = computed
	uuid    string // fixed filesystem UUID derived from the name
	format  Format
}

// writer makes one image format.
type writer func(ctx context.Context, j *packJob) error

func writerFor(f Format) writer {
	switch f {
	case FormatSquashfs:
		return writeSquashfs
	case FormatErofs:
		return writeErofs
	case FormatExt4, FormatExt2:
		return writeExt
	case FormatBtrfs:
		return writeBtrfs
	}
	return nil
}
