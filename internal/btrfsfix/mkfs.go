package btrfsfix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
)

// ErrNoNamespace is wrapped by Mkfs when the system allows no mount
// namespace (a container without the right capabilities, or unprivileged
// user namespaces switched off). Callers may then run mkfs.btrfs on the
// tree itself, which is not byte-reproducible.
var ErrNoNamespace = errors.New("no mount namespace for a reproducible mkfs.btrfs")

// stageScript runs in a new mount namespace: it copies the tree onto a
// fresh tmpfs in name order and runs mkfs.btrfs from there. mkfs.btrfs
// 6.2 takes inode numbers from the staging files and directory order from
// readdir; a fresh tmpfs numbers inodes in creation order and lists them
// in creation order, so the same tree gives the same filesystem. The
// first 300 numbers are used up because btrfs inode numbers start at 256.
// noatime and tar's O_NOATIME reads keep reading from changing atimes.
const stageScript = `set -e
t=$1; src=$2; size=$3; shift 3
mount -t tmpfs -o size="$size",mode=0755,noatime bake-os-btrfs "$t"
mkdir "$t/.burn"
i=0; while [ $i -lt 300 ]; do : > "$t/.burn/$i"; i=$((i+1)); done
rm -rf "$t/.burn"
mkdir "$t/tree"
tar -C "$src" --atime-preserve=system --sort=name --format=posix --pax-option=delete=ctime --xattrs --xattrs-include='*' --sparse --numeric-owner -cf - . |
	tar -C "$t/tree" --xattrs --xattrs-include='*' --numeric-owner --same-owner --same-permissions --delay-directory-restore -xf -
mkfs.btrfs "$@" --rootdir "$t/tree"
`

// Mkfs runs "mkfs.btrfs ARGS --rootdir COPY" where COPY is tree copied
// onto a fresh tmpfs of at most tmpfsSize bytes, mounted on the empty
// directory mnt inside a private mount namespace (and, as non-root, a
// user namespace mapping the caller to root, so the caller's files are
// recorded as root's). args must name the output device or file last.
// The tmpfs holds the tree's data in memory (sparse files stay sparse)
// until mkfs.btrfs exits.
func Mkfs(ctx context.Context, tree, mnt string, tmpfsSize int64, args ...string) error {
	for _, tool := range []string{"mkfs.btrfs", "tar"} {
		if _, err := child.LookPath(tool); err != nil {
			return err
		}
	}
	// The script's tar and mkfs.btrfs are killed with it (one process
	// group), and with them the namespace and its tmpfs.
	cmd, err := child.Unshare(ctx, []string{"--mount"}, "sh", append([]string{"-c", stageScript, "sh", mnt, tree, fmt.Sprint(tmpfsSize)}, args...)...)
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.HasPrefix(msg, "unshare:") || strings.Contains(msg, "mount: ") && strings.Contains(msg, "bake-os-btrfs") {
		return fmt.Errorf("%w: %s", ErrNoNamespace, firstLine(msg))
	}
	return fmt.Errorf("mkfs.btrfs %s: %w: %s", strings.Join(args, " "), err, msg)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
