package partitions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
)

// GrowExt4 grows the ext4 filesystem at [off, off+size) of image to fill
// that range, offline. resize2fs runs on a partition-sized sparse copy:
// never on "image?offset=N", because resize2fs sets the whole image file's
// size to the filesystem's (docs/flatcar.md), destroying the disk. The
// result is copied back with holes kept. epoch, when non-zero, pins the
// superblock times (E2FSPROGS_FAKE_TIME) for reproducible output.
func GrowExt4(ctx context.Context, image string, off, size, epoch int64) error {
	if _, err := child.LookPath("resize2fs"); err != nil {
		return fmt.Errorf("growing ext4: %w", err)
	}
	work, err := atomicfile.MkdirTemp(filepath.Dir(image), "ext4")
	if err != nil {
		return fmt.Errorf("creating work dir: %w", err)
	}
	defer atomicfile.Remove(work)
	part := filepath.Join(work, "root.img")
	if err := copyOut(ctx, image, off, size, part); err != nil {
		return fmt.Errorf("growing ext4: %w", err)
	}
	cmd := child.Command(ctx, "resize2fs", "-f", part)
	if epoch != 0 {
		cmd.Env = append(os.Environ(), fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d", epoch))
	}
	runlog.Tool(runlog.From(ctx), cmd)
	if out, errOut, err := child.Run(ctx, cmd); err != nil {
		return fmt.Errorf("resize2fs: %w: %s", err, strings.TrimSpace(string(errOut)+"\n"+string(out)))
	}
	if err := copyBack(ctx, image, off, size, part, "resize2fs"); err != nil {
		return fmt.Errorf("growing ext4: %w", err)
	}
	return nil
}
