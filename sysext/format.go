package sysext

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// Image formats systemd-sysext accepts.
const (
	FormatSquashfs = "squashfs"
	FormatErofs    = "erofs"
	FormatExt4     = "ext4"
	FormatBtrfs    = "btrfs"
)

// DetectFormat names the filesystem of a sysext image file by magic.
func DetectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening sysext image: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 0x10000+0x48)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	switch {
	case len(buf) >= 4 && string(buf[:4]) == "hsqs":
		return FormatSquashfs, nil
	case len(buf) >= 1028 && binary.LittleEndian.Uint32(buf[1024:1028]) == 0xE0F5E1E2:
		return FormatErofs, nil
	case len(buf) >= 1082 && buf[1080] == 0x53 && buf[1081] == 0xef:
		return FormatExt4, nil
	case len(buf) >= 0x10048 && bytes.Equal(buf[0x10040:0x10048], []byte("_BHRfS_M")):
		return FormatBtrfs, nil
	}
	return "", fmt.Errorf("%s is not a sysext image: no squashfs, erofs, ext4 or btrfs filesystem found", path)
}
