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
	"github.com/bake-os/bake-os/sparse"
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
	img, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", image, err)
	}
	defer img.Close()
	part := filepath.Join(work, "root.img")
	pf, err := os.Create(part)
	if err != nil {
		return err
	}
	defer pf.Close()
	if err := pf.Truncate(size); err != nil {
		return err
	}
	if err := sparse.CopyRange(ctx, pf, img, 0, off, size, nil); err != nil {
		return fmt.Errorf("copying ext4 out of %s: %w", image, err)
	}
	cmd := child.Command(ctx, "resize2fs", "-f", part)
	if epoch != 0 {
		cmd.Env = append(os.Environ(), fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d", epoch))
	}
	runlog.Tool(runlog.From(ctx), cmd)
	if out, errOut, err := child.Run(ctx, cmd); err != nil {
		return fmt.Errorf("resize2fs: %w: %s", err, strings.TrimSpace(string(errOut)+"\n"+string(out)))
	}
	if st, err := pf.Stat(); err != nil || st.Size() != size {
		return fmt.Errorf("growing ext4: resize2fs changed the partition copy's size")
	}
	if err := sparse.Replace(ctx, img, pf, off, 0, size, nil); err != nil {
		return fmt.Errorf("copying grown ext4 back into %s: %w", image, err)
	}
	if st, err := img.Stat(); err != nil || st.Size() < off+size {
		return fmt.Errorf("growing ext4: image %s is smaller than the partition end", image)
	}
	// No fsync: the image is a bake's temporary, and an fsync would
	// write out every page the decompressor left dirty in it.
	return img.Close()
}
