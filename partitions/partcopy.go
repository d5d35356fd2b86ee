package partitions

import (
	"context"
	"fmt"
	"os"

	"github.com/bake-os/bake-os/sparse"
)

// The editors that run a tool on a partition (debugfs, resize2fs, the
// btrfs rebuild) give it a sparse, partition-sized copy and write that
// back: a tool working on "image?offset=N" could write, or resize the
// file, past the partition (docs/flatcar.md).

// copyOut writes [off, off+size) of image to part, a new file of size
// bytes with the partition's holes kept.
func copyOut(ctx context.Context, image string, off, size int64, part string) error {
	img, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("opening %s: %w", image, err)
	}
	defer img.Close()
	if st, err := img.Stat(); err != nil || st.Size() < off+size {
		return fmt.Errorf("copying a partition out of %s: the image ends before the partition's end", image)
	}
	if err := sparse.Extract(ctx, part, img, off, size); err != nil {
		return fmt.Errorf("copying a partition out of %s: %w", image, err)
	}
	return nil
}

// copyBack writes part, a partition copy made by copyOut and worked on
// by tool, over [off, off+size) of image. A copy the tool made larger or
// smaller (writing past the partition, or resizing the file) is refused
// and the image left as it was. No fsync: the images edited are a bake's
// temporaries, and an fsync would write out every page a decompressor
// left dirty in them (0.4 s for a fresh Flatcar image).
func copyBack(ctx context.Context, image string, off, size int64, part, tool string) error {
	src, err := os.Open(part)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if st.Size() != size {
		return fmt.Errorf("writing a partition back into %s: %s wrote past the partition's end or resized its copy (%d bytes, the partition %d): refused", image, tool, st.Size(), size)
	}
	dst, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", image, err)
	}
	defer dst.Close()
	if err := sparse.Replace(ctx, dst, src, off, 0, size, nil); err != nil {
		return fmt.Errorf("writing a partition back into %s: %w", image, err)
	}
	return dst.Close()
}
