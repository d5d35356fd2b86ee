package diskfmt

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/bake-os/bake-os/progress"
)

// Format writes a raw disk image in one virtual disk format.
type Format interface {
	// Name is the format's unique name, as accepted by Lookup.
	Name() string
	// Ext is the usual file extension, without the dot.
	Ext() string
	// Description is a one-line help text.
	Description() string
	// VirtualSize is the disk size the output will report for a source of
	// srcSize bytes written with o (VHD rounds up to whole MiB).
	VirtualSize(srcSize int64, o Options) (int64, error)
	// Write writes src, a (sparse) raw disk image, to dst, which must be a
	// new empty file opened read-write. Write reads only src's data
	// extents, never writes runs of zeros where the format allows holes,
	// and leaves dst at its final size. On error dst holds garbage: the
	// caller writes to a temporary file and renames it on success.
	Write(ctx context.Context, src, dst *os.File, o Options) error
}

// Options tunes a Write. The zero value is valid.
type Options struct {
	// VirtualSize is the size of the virtual disk; 0 means the size of
	// src. It must be a multiple of 512 and at least the size of src
	// (exoscale forces 10 GiB).
	VirtualSize int64
	// Workers is the number of compressing goroutines; 0 means
	// runtime.GOMAXPROCS.
	Workers int
	// Reporter receives progress in bytes of source data; nil reports
	// nothing.
	Reporter progress.Reporter
	// Adapter is the VMDK disk adapter recorded in the descriptor: "ide"
	// (default), "lsilogic", "buslogic" or "legacyESX".
	Adapter string
	// Level is the deflate level (1-9) of compressing formats; 0 means
	// DefaultLevel.
	Level int
	// ExtentName is the file name a monolithic VMDK descriptor records for
	// its own extent; "" means the base name of dst. Callers that write to
	// a temporary file set it to the final name.
	ExtentName string
}

// DefaultLevel is the deflate level used when Options.Level is 0. A
// Flatcar image is mostly compressed data (zstd btrfs extents, the
// kernel), where higher levels buy little: on the Flatcar-like benchmark
// image (internal/benchimage) the qcow2 was 665.1 MB at level 1, 663.8 MB
// at 4 and 661.6 MB at 6 (+0.5% for level 1), and level 1 took about a
// third less CPU time (2.2 against 3.2-4.0 CPU-s on a loaded machine;
// the qcow2 is encoded while the image decodes, so this competes with
// decoding). On compressible data (binaries) level 1 output is ~13%
// larger than level 6; callers that care set Options.Level.
const DefaultLevel = 1

const sectorSize = 512

// All returns every format, in a stable order. The list is explicit: adding
// a format means adding it here.
func All() []Format {
	return []Format{
		Raw{},
		Qcow2{},
		VMDKSparse{},
		VMDKStream{},
		VHDFixed{},
		VHDDynamic{},
		VHDX{},
		Parallels{},
	}
}

// Names returns the names of All, in order.
func Names() []string {
	var n []string
	for _, f := range All() {
		n = append(n, f.Name())
	}
	return n
}

// Lookup returns the format called name.
func Lookup(name string) (Format, error) {
	for _, f := range All() {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("unknown disk format %q: use one of %s", name, strings.Join(Names(), ", "))
}

// resolved is Options with defaults filled in and checked against src.
type resolved struct {
	Options
	srcSize int64
	size    int64 // virtual size
}

func resolve(src *os.File, o Options) (resolved, error) {
	st, err := src.Stat()
	if err != nil {
		return resolved{}, fmt.Errorf("reading size of %s: %w", src.Name(), err)
	}
	r := resolved{Options: o, srcSize: st.Size(), size: o.VirtualSize}
	if r.size == 0 {
		r.size = r.srcSize
	}
	if r.size < r.srcSize {
		return r, fmt.Errorf("virtual size %d of %s is smaller than the image (%d bytes): give a larger size", r.size, src.Name(), r.srcSize)
	}
	if r.size%sectorSize != 0 {
		return r, fmt.Errorf("virtual size %d of %s is not a multiple of 512: round it up", r.size, src.Name())
	}
	if r.Workers <= 0 {
		r.Workers = runtime.GOMAXPROCS(0)
	}
	if r.Level == 0 {
		r.Level = DefaultLevel
	}
	if r.Level < 1 || r.Level > 9 {
		return r, fmt.Errorf("compression level %d: use 1 to 9", r.Level)
	}
	r.Reporter = progress.OrNop(r.Reporter)
	return r, nil
}

// plainSize is VirtualSize for formats that keep the size as given.
func plainSize(srcSize int64, o Options) (int64, error) {
	s := o.VirtualSize
	if s == 0 {
		s = srcSize
	}
	if s < srcSize {
		return 0, fmt.Errorf("virtual size %d is smaller than the image (%d bytes): give a larger size", s, srcSize)
	}
	if s%sectorSize != 0 {
		return 0, fmt.Errorf("virtual size %d is not a multiple of 512: round it up", s)
	}
	return s, nil
}

// start truncates dst (it must be new) and resolves o.
func start(src, dst *os.File, o Options) (resolved, error) {
	r, err := resolve(src, o)
	if err != nil {
		return r, err
	}
	if err := dst.Truncate(0); err != nil {
		return r, fmt.Errorf("truncating %s: %w", dst.Name(), err)
	}
	return r, nil
}
