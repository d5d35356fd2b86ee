package install

import (
	"bufio"
	"compress/bzip2"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/verify"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/progress"
)

const sector = flatcar.SectorSize

// Options describes one install.
type Options struct {
	Device string // block device or existing disk-image file
	// Source is the input image as given (raw or .bin.bz2), or "" when
	// the bake downloads it. It lets a too-small disk be refused before
	// the bake, and the input itself be refused as the target.
	Source string
	// Bake bakes into dir, a scratch directory of this run, and returns
	// the baked image's path there. Install removes dir afterwards.
	// written, when not nil, is for bake.Options.WorkingCopyWritten: the
	// parts of the image the bake does not edit are then written to the
	// target while the working copy is decoded.
	Bake func(ctx context.Context, dir string, written func(path string, end int64)) (string, error)
	// NoStream writes nothing before the bake succeeded. By default the
	// partitions the bake does not edit (ESP, BIOS-BOOT, USR-A, USR-B,
	// OEM-CONFIG) are written while the input decodes; a bake that then
	// fails (after its checks of the inputs, e.g. no room in ROOT) leaves
	// the target without a valid partition table.
	NoStream bool
	// ScratchDir holds the scratch directory (default "."): it needs
	// room for the baked image's data (it is sparse), plus ROOT's with
	// GrowRoot; without NoStream, less USR-A's and USR-B's, which leave
	// it as they reach the target.
	ScratchDir string
	// GrowRoot grows ROOT (partition 9) and its ext4 to the end of the
	// disk; without it ROOT keeps its size and Flatcar grows it on its
	// first boot.
	GrowRoot bool
	Epoch    int64 // superblock times of a grown ROOT (0: now)
	// Confirm, when set, is asked after the target passed every check
	// and before anything is baked or written; an error stops the run.
	Confirm  func(Device) error
	Reporter progress.Reporter
	Logger   *slog.Logger
}

// Extent is a byte range of the target.
type Extent struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

func (e Extent) end() int64 { return e.Offset + e.Length }

// Result reports a finished, verified install.
type Result struct {
	Device      string `json:"device"`
	RealDevice  string `json:"real_device"`
	BlockDevice bool   `json:"block_device"`
	Model       string `json:"model,omitempty"`
	Size        int64  `json:"size"`       // of the target
	ImageSize   int64  `json:"image_size"` // of the baked image before fitting
	GrowRoot    bool   `json:"grow_root"`
	RootSize    int64  `json:"root_size"` // ROOT partition on the target
	// BytesWritten counts the data written; BytesZeroed the bytes made
	// zero without writing data (holes of the image, partition ranges).
	BytesWritten int64 `json:"bytes_written"`
	// WrittenAhead counts the bytes of BytesWritten written while the
	// input was decoded (and found equal to the baked image after).
	WrittenAhead int64 `json:"written_while_decoding"`
	// ScratchFreed counts the bytes of WrittenAhead dropped from the
	// scratch copy once on the target (USR-A and USR-B), so that the
	// scratch directory needs room only for the rest.
	ScratchFreed int64    `json:"scratch_freed"`
	BytesZeroed  int64    `json:"bytes_zeroed"`
	Extents      []Extent `json:"extents"` // the data extents written, by offset
	// Verified: every extent was read back from the target and matched
	// the image, and samples of every zeroed range read as zeros.
	Verified bool `json:"verified"`
	// SHA256 is the digest of the written extents' bytes, read back
	// from the target, concatenated in offset order.
	SHA256  string  `json:"sha256"`
	Seconds float64 `json:"seconds"` // writing and verifying, not the bake
}

// PartlyWrittenError means the install stopped after it began writing the
// target, which now has no valid partition table (the table is written
// last): the target must be installed again before it is used.
type PartlyWrittenError struct {
	Device string
	Err    error
}

func (e *PartlyWrittenError) Error() string {
	return fmt.Sprintf("writing %s: %v; %s", e.Device, e.Err, e.Damage())
}

func (e *PartlyWrittenError) Unwrap() error { return e.Err }

// Damage says what state the target was left in, for a message that
// replaces Error (an interrupted run says why it stopped, then this).
func (e *PartlyWrittenError) Damage() string {
	return e.Device + " is partly written and has no valid partition table: run the install again"
}

// Run checks the target, asks Confirm, bakes (Options.Bake) into a
// scratch directory, fits the image to the target, writes, verifies and
// removes the scratch directory. The target is opened exclusively
// (O_EXCL for a block device) before the bake and held until the end, so
// nobody mounts it meanwhile. Nothing is written to the target before the
// bake's own checks of its inputs passed (and, with NoStream, before the
// bake succeeded and the fitted image was checked); once writing started,
// an error (or ctx's cancellation) leaves a target without a valid
// partition table, and the error says so.
func Run(ctx context.Context, o Options) (*Result, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.ScratchDir == "" {
		o.ScratchDir = "."
	}
	dev, err := Inspect(o.Device)
	if err != nil {
		return nil, err
	}
	if o.Source != "" {
		if a, err := os.Stat(o.Source); err == nil {
			if b, err := os.Stat(dev.Real); err == nil && os.SameFile(a, b) {
				return nil, fmt.Errorf("device %s is the input image: the input is never modified", o.Device)
			}
		}
		if n, ok := ImageSize(o.Source); ok && n > dev.Size {
			return nil, tooSmall(dev, n)
		}
	}
	if o.Confirm != nil {
		if err := o.Confirm(dev); err != nil {
			return nil, err
		}
	}
	target, err := openTarget(dev)
	if err != nil {
		return nil, err
	}
	defer target.Close()

	if err := os.MkdirAll(o.ScratchDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	lock, err := atomicfile.LockDir(o.ScratchDir)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if stale, err := lock.RemoveStale(); err != nil {
		return nil, err
	} else if len(stale) > 0 {
		log.Info("removed temp files of earlier, killed runs", "dir", o.ScratchDir, "files", stale)
	}
	scratch, err := atomicfile.MkdirTemp(o.ScratchDir, "install")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	defer atomicfile.Remove(scratch)
	var pre *ahead
	var follow func(string, int64)
	if !o.NoStream {
		pre = newAhead(ctx, target, dev.Block, dev.Size, log)
		defer pre.cancel()
		follow = pre.Follow
	}
	// partly names the state of a target that writing ahead changed.
	partly := func(err error) error {
		if pre != nil && pre.stop() {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return &PartlyWrittenError{Device: dev.Path, Err: err}
		}
		return err
	}
	image, err := o.Bake(ctx, scratch, follow)
	if err != nil {
		return nil, partly(err)
	}
	fit, err := fitImage(ctx, image, dev, o, log)
	if err != nil {
		return nil, partly(err)
	}
	var cut []int64
	var held []Extent
	if pre != nil {
		if err := pre.finish(); err != nil {
			return nil, partly(err)
		}
		if pre.started {
			cut, held = pre.bounds(), pre.held
			log.Debug("written while decoding", "bytes", pre.written, "extents", len(pre.wrote), "punched_extents", len(held))
		} else {
			pre = nil
		}
	}
	src, err := os.Open(image)
	if err != nil {
		return nil, partly(fmt.Errorf("opening baked image: %w", err))
	}
	defer src.Close()
	p, err := planWrite(src, fit, dev.Size, cut, held)
	if err != nil {
		return nil, partly(err)
	}
	res := &Result{Device: dev.Path, RealDevice: dev.Real, BlockDevice: dev.Block, Model: dev.Model, Size: dev.Size,
		ImageSize: fit.imageSize, GrowRoot: o.GrowRoot, RootSize: fit.rootSize, Extents: p.data}
	start := time.Now()
	rep := progress.OrNop(o.Reporter)
	w := &writer{ctx: ctx, dst: target, src: src, block: dev.Block, log: log, sums: map[int64][32]byte{}, pre: pre}
	if err := w.write(p, rep, dev.Path); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &PartlyWrittenError{Device: dev.Path, Err: err}
	}
	res.BytesWritten, res.BytesZeroed, res.WrittenAhead = w.written, w.zeroed, w.reused
	for _, e := range held {
		res.ScratchFreed += e.Length
	}
	sum, err := w.verify(p, rep, dev.Path)
	if err != nil {
		return nil, err
	}
	if !dev.Block {
		// The table as any reader sees it (a block device's table is
		// covered by the extents' read-back: both tables are data).
		if _, err := gpt.Read(target); err != nil {
			return nil, verify.Errorf("verifying %s: %v", dev.Path, err)
		}
	}
	res.Verified, res.SHA256 = true, sum
	res.Seconds = time.Since(start).Seconds()
	if dev.Block {
		// Let the kernel see the new partitions (like blockdev --rereadpt).
		if err := unix.IoctlSetInt(int(target.Fd()), unix.BLKRRPART, 0); err != nil {
			log.Warn("the kernel did not re-read the partition table; run partprobe or reboot before using the partitions",
				"device", dev.Path, "err", err)
		}
	}
	return res, nil
}

func tooSmall(dev Device, image int64) error {
	return fmt.Errorf("device %s is too small: %d bytes (%s), the image needs %d (%s)",
		dev.Path, dev.Size, humanBytes(dev.Size), image, humanBytes(image))
}

// openTarget opens the target for writing: a block device exclusively,
// which the kernel refuses while it is mounted, swap, a RAID or LVM
// member, or opened exclusively by another program.
func openTarget(dev Device) (*os.File, error) {
	flags := os.O_RDWR
	if dev.Block {
		flags |= unix.O_EXCL
	}
	f, err := os.OpenFile(dev.Real, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("device %s is in use (mounted, swap, a RAID or LVM member, or opened exclusively by another program): stop that first", dev.Path)
		}
		return nil, fmt.Errorf("opening device %s: %w", dev.Path, err)
	}
	if st, err := f.Stat(); err != nil || dev.info == nil || !os.SameFile(st, dev.info) {
		f.Close()
		return nil, fmt.Errorf("device %s changed while being checked", dev.Path)
	}
	size, err := targetSize(f, dev.Block)
	if err != nil {
		f.Close()
		return nil, err
	}
	if size != dev.Size {
		f.Close()
		return nil, fmt.Errorf("device %s changed size (%d, then %d bytes) while being checked", dev.Path, dev.Size, size)
	}
	return f, nil
}

func targetSize(f *os.File, block bool) (int64, error) {
	if block {
		var n uint64
		if err := ioctlPtr(f, unix.BLKGETSIZE64, unsafe.Pointer(&n)); err != nil {
			return 0, fmt.Errorf("reading size of %s: %w", f.Name(), err)
		}
		return int64(n), nil
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("reading size of %s: %w", f.Name(), err)
	}
	return st.Size(), nil
}

// ImageSize reads the disk size a Flatcar image (raw or .bin.bz2) declares
// in its primary GPT header (backup header LBA + 1), without reading
// more than its first compressed block.
func ImageSize(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, err := br.Peek(3); err == nil && string(magic) == "BZh" {
		r = bzip2.NewReader(br)
	}
	b := make([]byte, 2*sector)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, false
	}
	h := b[sector:]
	if string(h[:8]) != "EFI PART" {
		return 0, false
	}
	alt := binary.LittleEndian.Uint64(h[32:40])
	if alt == 0 || alt > 1<<40 {
		return 0, false
	}
	return int64(alt+1) * sector, true
}

// fitted is the baked image made to the target's size.
type fitted struct {
	disk      *gpt.Disk
	imageSize int64
	rootSize  int64
}

// fitImage moves the backup GPT of the baked image to the target's last
// LBA (sparsely extending the file to the target's size) and, with
// GrowRoot, grows ROOT and its ext4 to the end.
func fitImage(ctx context.Context, image string, dev Device, o Options, log *slog.Logger) (*fitted, error) {
	f, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening baked image: %w", err)
	}
	defer f.Close()
	d, err := gpt.Read(f)
	if err != nil {
		return nil, fmt.Errorf("baked image: %w", err)
	}
	fit := &fitted{imageSize: d.Size}
	if dev.Size < d.Size {
		return nil, tooSmall(dev, d.Size)
	}
	root, err := d.ByLabel(flatcar.LabelROOT)
	if err != nil {
		return nil, err
	}
	diskSectors := uint64(dev.Size / sector)
	rootSectors := root.Sectors()
	if o.GrowRoot {
		for _, p := range d.Partitions {
			if p.LastLBA > root.LastLBA {
				return nil, fmt.Errorf("--grow-root: partition %d (%s) lies after ROOT", p.Number, p.Label)
			}
		}
		// Up to the last usable LBA (before the backup header and its 32
		// sectors of entries), ending on a MiB boundary so the ext4
		// fills it with whole blocks.
		rootSectors = (diskSectors - 34 - root.FirstLBA + 1) / 2048 * 2048
	}
	if dev.Size > d.Size || rootSectors != root.Sectors() {
		if err := gpt.Grow(f, diskSectors, root.Number, rootSectors); err != nil {
			return nil, fmt.Errorf("fitting the image to %s: %w", dev.Path, err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if rootSectors != root.Sectors() {
		log.Info("growing ROOT", "from", root.Size(), "to", int64(rootSectors)*sector)
		if err := partitions.GrowExt4(ctx, image, root.Offset(), int64(rootSectors)*sector, o.Epoch); err != nil {
			return nil, fmt.Errorf("growing ROOT: %w", err)
		}
	}
	if fit.disk, err = gpt.Open(image); err != nil {
		return nil, fmt.Errorf("fitted image: %w", err)
	}
	if err := fit.disk.CheckFlatcar(); err != nil {
		return nil, err
	}
	if fit.disk.Size != dev.Size {
		return nil, fmt.Errorf("fitted image is %d bytes, the device %d", fit.disk.Size, dev.Size)
	}
	fit.rootSize = int64(rootSectors) * sector
	return fit, nil
}
