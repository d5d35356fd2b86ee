package bake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/decompress"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
)

// isBzip2 reports whether the file starts with a bzip2 stream header.
func isBzip2(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	hdr := make([]byte, 4)
	n, _ := io.ReadFull(f, hdr)
	return decompress.IsBzip2(hdr[:n]), nil
}

// WorkingCopy makes a sparse copy of the input image (decompressing
// .bin.bz2 on the way) as a temp file in dir (atomicfile.CreateTemp), and
// validates its GPT as a Flatcar image. The caller renames or removes the returned file.
func WorkingCopy(ctx context.Context, input, dir string, workers int, rep progress.Reporter) (string, *gpt.Disk, error) {
	return workingCopy(ctx, input, dir, workers, rep, nil, nil)
}

// workingCopy is WorkingCopy, telling ahead and follow (each when not
// nil) how far the copy is written.
func workingCopy(ctx context.Context, input, dir string, workers int, rep progress.Reporter, ahead *vendorAhead,
	follow func(path string, end int64)) (_ string, _ *gpt.Disk, err error) {
	rep = progress.OrNop(rep)
	st, err := checkFile("image", input)
	if err != nil {
		return "", nil, err
	}
	bz, err := isBzip2(input)
	if err != nil {
		return "", nil, fmt.Errorf("reading image %s: %w", input, err)
	}
	if !bz {
		// Validate before spending time on the copy.
		d, err := gpt.Open(input)
		if err != nil {
			return "", nil, err
		}
		if err := d.CheckFlatcar(); err != nil {
			return "", nil, err
		}
	}
	tmp, err := atomicfile.CreateTemp(dir, ImageName)
	if err != nil {
		return "", nil, fmt.Errorf("creating temp image in %s: %w", dir, err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			atomicfile.Remove(tmp.Name())
		}
	}()
	in, err := os.Open(input)
	if err != nil {
		return "", nil, fmt.Errorf("opening image: %w", err)
	}
	defer in.Close()
	ahead.start(tmp.Name())
	advance := func(end int64) {
		ahead.advance(end)
		if follow != nil {
			follow(tmp.Name(), end)
		}
	}
	if bz {
		// The decoder reports its own progress (compressed bytes).
		_, err = decompress.Bzip2ToSparse(ctx, in, tmp, decompress.Options{Workers: workers, Size: st.Size(), Name: input, Reporter: rep,
			Written: advance})
		if err != nil {
			return "", nil, err
		}
	} else {
		c := rep.Counter("copying "+filepath.Base(input), -1)
		if err := tmp.Truncate(st.Size()); err != nil {
			return "", nil, fmt.Errorf("sizing %s: %w", tmp.Name(), err)
		}
		err = sparse.CopyRange(ctx, tmp, in, 0, 0, st.Size(), c)
		c.Done()
		if err != nil {
			return "", nil, err
		}
		advance(st.Size())
	}
	d, err := gpt.Read(tmp)
	if err == nil {
		err = d.CheckFlatcar()
	}
	if err != nil {
		// The copy's temp name means nothing to the user.
		what := "its copy"
		if bz {
			what = "the decompressed image"
		}
		return "", nil, fmt.Errorf("image %s: %w", input, renamed{err, tmp.Name(), what})
	}
	return tmp.Name(), d, nil
}

// renamed is err with the text name replaced by what in its message.
type renamed struct {
	err        error
	name, what string
}

func (r renamed) Error() string { return strings.ReplaceAll(r.err.Error(), r.name, r.what) }
func (r renamed) Unwrap() error { return r.err }

// ReadVersionTxt returns FLATCAR_VERSION from the version.txt beside
// image, or "" when there is none; one that does not parse is an error.
func ReadVersionTxt(image string) (string, error) {
	v, err := osrelease.ReadVersionTxt(filepath.Join(filepath.Dir(image), osrelease.VersionTxtFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	return v.Version, nil
}
