package partitions

import (
	"bytes"
	"context"
	"fmt"
	"os"
)

// Filesystem type names, as Detect returns them.
const (
	FSExt4  = "ext4"
	FSBtrfs = "btrfs"
	FSVFAT  = "vfat"
	FSNone  = ""
)

// Detect names the filesystem at [offset, offset+length) of f by its magic
// numbers, or returns FSNone.
func Detect(f *os.File, offset, length int64) (string, error) {
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, offset); err != nil {
		return "", fmt.Errorf("reading superblock at %d of %s: %w", offset, f.Name(), err)
	}
	if buf[1080] == 0x53 && buf[1081] == 0xef {
		return FSExt4, nil
	}
	if bytes.Equal(buf[82:90], []byte("FAT32   ")) && buf[510] == 0x55 && buf[511] == 0xaa {
		return FSVFAT, nil
	}
	if length >= 0x10000+4096 {
		sb := make([]byte, 8)
		if _, err := f.ReadAt(sb, offset+0x10000+0x40); err == nil && string(sb) == "_BHRfS_M" {
			return FSBtrfs, nil
		}
	}
	return FSNone, nil
}

// Options for Open.
type Options struct {
	Epoch   int64  // ext4 timestamps (0: now)
	WorkDir string // btrfs work space (default: the image's directory)
}

// Open returns the editor for the filesystem found at [offset,
// offset+length) of image.
func Open(ctx context.Context, image string, offset, length int64, o Options) (Editor, string, error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, "", fmt.Errorf("opening %s: %w", image, err)
	}
	kind, err := Detect(f, offset, length)
	f.Close()
	if err != nil {
		return nil, "", err
	}
	var ed Editor
	switch kind {
	case FSExt4:
		ed, err = OpenExt4(image, offset, Ext4Options{Epoch: o.Epoch, Context: ctx, Size: length})
	case FSBtrfs:
		ed, err = OpenBtrfs(ctx, image, offset, length, BtrfsOptions{WorkDir: o.WorkDir})
	case FSVFAT:
		ed, err = OpenVFAT(image, offset, length)
	default:
		return nil, "", fmt.Errorf("no ext4, btrfs or vfat filesystem at offset %d of %s", offset, image)
	}
	if err != nil {
		return nil, "", err
	}
	return ed, kind, nil
}
