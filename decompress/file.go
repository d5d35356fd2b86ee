package decompress

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-os/bake-os/internal/atomicfile"
)

// Bzip2FileToSparse decompresses the bzip2 file srcPath into dstPath with
// Bzip2ToSparse. The output is written to a temporary file in dstPath's
// directory and renamed over dstPath only on success; on failure nothing
// is left behind. o.Size and o.Name default to the source's size and
// base name.
func Bzip2FileToSparse(ctx context.Context, srcPath, dstPath string, o Options) (written int64, err error) {
	src, err := os.Open(srcPath)
	if err != nil {
		return 0, fmt.Errorf("opening compressed image: %w", err)
	}
	defer src.Close()
	if st, err := src.Stat(); err == nil && o.Size == 0 {
		o.Size = st.Size()
	}
	if o.Name == "" {
		o.Name = filepath.Base(srcPath)
	}
	tmp, err := atomicfile.CreateTemp(filepath.Dir(dstPath), filepath.Base(dstPath))
	if err != nil {
		return 0, fmt.Errorf("creating temporary output: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			atomicfile.Remove(tmp.Name())
		}
	}()
	written, err = Bzip2ToSparse(ctx, src, tmp, o)
	if err != nil {
		return 0, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return 0, fmt.Errorf("setting mode of %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dstPath); err != nil {
		return 0, fmt.Errorf("renaming decompressed image: %w", err)
	}
	atomicfile.Forget(tmp.Name())
	return written, nil
}
