package sysext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
)

// UnreadableError means the filesystem's own tool refuses a sysext image
// that bake-os could otherwise parse: the kernel (and so systemd-sysext)
// would not mount it either.
type UnreadableError struct {
	Image  string
	Tool   string // unsquashfs, fsck.erofs, e2fsck, btrfs check
	Detail string // the tool's complaint, one line
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("%s: %s cannot read it: %s; systemd could not mount it either", e.Image, e.Tool, e.Detail)
}

// toolCheck is how one format's own tool judges an image without
// changing it.
type toolCheck struct {
	name string   // shown in errors
	argv []string // argv[0] is the program (its package: child.Packages); the image is appended
}

// checks run in order. For squashfs, -s reads the superblock and -lls
// walks the whole directory and inode tables, which is what mounting and
// merging the extension touch; file data blocks are not decompressed
// (that would cost a full extraction of a 100 MB+ sysext), the
// extension-release itself is read by ReadFile right after.
var checks = map[string][]toolCheck{
	FormatSquashfs: {
		{"unsquashfs", []string{"unsquashfs", "-s"}},
		{"unsquashfs", []string{"unsquashfs", "-no-progress", "-lls"}},
	},
	FormatErofs: {{"fsck.erofs", []string{"fsck.erofs"}}},
	FormatExt4:  {{"e2fsck", []string{"e2fsck", "-f", "-n"}}},
	FormatBtrfs: {{"btrfs check", []string{"btrfs", "check", "--readonly"}}},
}

// CheckFilesystem runs the filesystem's own read-only checker on the sysext image
// (unsquashfs, fsck.erofs, e2fsck -fn, btrfs check --readonly). A refusal
// is an *UnreadableError; a missing tool is an error naming its package.
func CheckFilesystem(image string) error {
	format, err := DetectFormat(image)
	if err != nil {
		return err
	}
	for _, c := range checks[format] {
		if err := lookTool(c.argv[0]); err != nil {
			return fmt.Errorf("checking %s: %w", image, err)
		}
		out := &headBuffer{max: 64 << 10}
		cmd := child.Command(context.Background(), c.argv[0], append(c.argv[1:], image)...)
		cmd.Stdout, cmd.Stderr = io.Discard, out
		if c.name != "unsquashfs" {
			// These tools print their findings on stdout.
			cmd.Stdout = out
		}
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &UnreadableError{Image: image, Tool: c.name, Detail: complaint(out.Bytes(), ee)}
		}
		if err != nil {
			return fmt.Errorf("checking %s with %s: %w", image, c.name, err)
		}
	}
	return nil
}

// headBuffer keeps the first max bytes of a tool's output and drops the
// rest, so a chatty tool is neither cut off nor kept in memory.
type headBuffer struct {
	bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.Len(); room > 0 {
		h.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// complaint picks the tool's most telling output line: the first one that
// says what is wrong (later ones tend to be summaries), else the last.
func complaint(out []byte, ee *exec.ExitError) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(out, nil))), "\n")
	for _, l := range lines {
		l = strings.TrimSuffix(strings.TrimSpace(l), "Fix? no")
		l = strings.TrimSpace(l)
		lower := strings.ToLower(l)
		for _, w := range []string{"error", "fail", "corrupt", "bad", "invalid", "can't", "cannot", "unable", "should be", "wrong"} {
			if strings.Contains(lower, w) {
				return l
			}
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ee.String()
}
