package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/internal/verify"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
)

// tableSectors: the protective MBR, the primary header and its 32 sectors
// of entries at the start; the backup entries and header (33 sectors) at
// the end.
const (
	primarySectors = 34
	backupSectors  = 33
)

// plan is what goes where on the target: the image's data extents, and
// the ranges to make zero (the rest of the image's span, of every
// partition and of the backup table area). Both are sorted, disjoint and
// split at the table areas' bounds.
type plan struct {
	data, zero  []Extent
	size        int64
	primaryEnd  int64 // end of the MBR and primary GPT
	backupStart int64 // start of the backup GPT
}

// isTable reports whether e lies in a partition table area.
func (p *plan) isTable(e Extent) bool { return e.Offset < p.primaryEnd || e.Offset >= p.backupStart }

// planWrite plans the target from the fitted image; extents are also cut
// at cut (sorted), the bounds of the extents written ahead. held (sorted,
// disjoint) are extents written ahead and then punched out of the image:
// they are data of the plan (the target holds them), and the image must
// have no data inside them.
func planWrite(src *os.File, fit *fitted, size int64, cut []int64, held []Extent) (*plan, error) {
	p := &plan{size: size, primaryEnd: primarySectors * sector, backupStart: size - backupSectors*sector}
	exts, err := sparse.DataExtents(src, 0, size)
	if err != nil {
		return nil, err
	}
	for _, e := range exts {
		p.data = append(p.data, Extent{e.Off, e.Len})
	}
	if over := subtract(p.data, held); len(held) > 0 {
		var n int64
		for _, e := range over {
			n += e.Length
		}
		var all int64
		for _, e := range p.data {
			all += e.Length
		}
		if n != all {
			return nil, fmt.Errorf("the baked image has data where it was written to the disk while decoding and then dropped from the scratch copy (USR-A, USR-B): the bake edited them; run the install again with --no-stream")
		}
		p.data = append(p.data, held...)
		sort.Slice(p.data, func(i, j int) bool { return p.data[i].Offset < p.data[j].Offset })
	}
	cover := []Extent{{0, fit.imageSize}, {p.backupStart, backupSectors * sector}}
	for _, part := range fit.disk.Partitions {
		cover = append(cover, Extent{part.Offset(), part.Size()})
	}
	p.zero = subtract(merge(cover), p.data)
	bounds := []int64{p.primaryEnd, p.backupStart}
	p.data, p.zero = split(p.data, bounds), split(p.zero, bounds)
	p.data = split(p.data, cut)
	return p, nil
}

// merge sorts es and joins overlapping or touching ranges.
func merge(es []Extent) []Extent {
	sort.Slice(es, func(i, j int) bool { return es[i].Offset < es[j].Offset })
	var out []Extent
	for _, e := range es {
		if e.Length <= 0 {
			continue
		}
		if n := len(out); n > 0 && e.Offset <= out[n-1].end() {
			if e.end() > out[n-1].end() {
				out[n-1].Length = e.end() - out[n-1].Offset
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// subtract returns the parts of cover (sorted, disjoint) outside cut
// (sorted, disjoint).
func subtract(cover, cut []Extent) []Extent {
	var out []Extent
	j := 0
	for _, c := range cover {
		pos := c.Offset
		for j < len(cut) && cut[j].end() <= pos {
			j++
		}
		for k := j; k < len(cut) && cut[k].Offset < c.end(); k++ {
			if cut[k].Offset > pos {
				out = append(out, Extent{pos, cut[k].Offset - pos})
			}
			pos = max(pos, cut[k].end())
		}
		if pos < c.end() {
			out = append(out, Extent{pos, c.end() - pos})
		}
	}
	return out
}

// split cuts every extent crossing one of bounds.
func split(es []Extent, bounds []int64) []Extent {
	var out []Extent
	for _, e := range es {
		for _, b := range bounds {
			if e.Offset < b && b < e.end() {
				out = append(out, Extent{e.Offset, b - e.Offset})
				e = Extent{b, e.end() - b}
			}
		}
		out = append(out, e)
	}
	return out
}

// writer puts a plan onto the target.
type writer struct {
	ctx      context.Context
	dst, src *os.File
	block    bool
	log      *slog.Logger
	sums     map[int64][32]byte // extent offset -> SHA-256 of the image's bytes
	pre      *ahead             // what was written while decoding, or nil
	reused   int64              // bytes of pre found equal to the image
	written  int64
	zeroed   int64
	noUnmap  bool  // the device cannot zero by unmapping: BLKZEROOUT writes zeros
	toZero   int64 // bytes the plan zeroes, for the message when that is slow
	counter  progress.Counter
}

const chunk = 4 << 20

// write makes the target equal to the plan: first both partition table
// areas are zeroed and synced (a disk interrupted from here on has no
// valid table, old or new), then every other extent is written and every
// other range zeroed, synced, and last the tables are written and synced.
func (w *writer) write(p *plan, rep progress.Reporter, name string) error {
	var total int64
	for _, e := range p.data {
		total += e.Length
	}
	for _, e := range p.zero {
		total += e.Length
		w.toZero += e.Length
	}
	w.counter = rep.Counter("writing "+name, total)
	defer w.counter.Done()
	for _, e := range []Extent{{0, p.primaryEnd}, {p.backupStart, p.size - p.backupStart}} {
		if err := w.zeroRange(e, false); err != nil {
			return err
		}
	}
	if err := w.dst.Sync(); err != nil {
		return fmt.Errorf("syncing: %w", err)
	}
	for _, tables := range []bool{false, true} {
		for _, e := range p.data {
			if p.isTable(e) == tables {
				if ok, err := w.already(e); err != nil {
					return err
				} else if ok {
					continue
				}
				if err := w.copyExtent(e); err != nil {
					return err
				}
			}
		}
		for _, e := range p.zero {
			if p.isTable(e) != tables {
				continue
			}
			if tables {
				w.zeroed += e.Length // zeroed in the first step
				w.counter.Add(e.Length)
				continue
			}
			if err := w.zeroRange(e, true); err != nil {
				return err
			}
		}
		if err := w.dst.Sync(); err != nil {
			return fmt.Errorf("syncing: %w", err)
		}
	}
	return nil
}

func (w *writer) copyExtent(e Extent) error {
	buf := make([]byte, min(e.Length, chunk))
	h := sha256.New()
	for off := e.Offset; off < e.end(); {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), e.end()-off)]
		if _, err := w.src.ReadAt(b, off); err != nil {
			return fmt.Errorf("reading baked image at %d: %w", off, err)
		}
		h.Write(b)
		if _, err := w.dst.WriteAt(b, off); err != nil {
			return fmt.Errorf("writing at %d: %w", off, err)
		}
		off += int64(len(b))
		w.written += int64(len(b))
		w.counter.Add(int64(len(b)))
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	w.sums[e.Offset] = sum
	return nil
}

// already reports whether e was written ahead with the bytes the fitted
// image holds there (the image's bytes are hashed again and compared), and
// then counts it as written. An extent written ahead that differs is
// written again by the caller.
func (w *writer) already(e Extent) (bool, error) {
	if w.pre == nil || w.pre.length[e.Offset] != e.Length {
		return false, nil
	}
	if w.pre.isHeld(e) {
		// Punched out of the image: the plan has it from the writing
		// ahead only, and the read-back checks the target against it.
		w.sums[e.Offset] = w.pre.sums[e.Offset]
		w.written += e.Length
		w.reused += e.Length
		w.counter.Add(e.Length)
		return true, nil
	}
	buf := make([]byte, min(e.Length, chunk))
	h := sha256.New()
	for off := e.Offset; off < e.end(); {
		if err := w.ctx.Err(); err != nil {
			return false, err
		}
		b := buf[:min(int64(len(buf)), e.end()-off)]
		if _, err := w.src.ReadAt(b, off); err != nil {
			return false, fmt.Errorf("reading baked image at %d: %w", off, err)
		}
		h.Write(b)
		off += int64(len(b))
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if sum != w.pre.sums[e.Offset] {
		w.log.Debug("an extent written while decoding differs from the baked image: writing it again", "offset", e.Offset, "length", e.Length)
		return false, nil
	}
	w.sums[e.Offset] = sum
	w.written += e.Length
	w.reused += e.Length
	w.counter.Add(e.Length)
	return true, nil
}

// zeroRange makes e read as zeros without writing data where the target
// allows: a hole in a file; on a block device an unmapping zero-out
// (fallocate PUNCH_HOLE: the kernel's write-zeroes with unmap, which
// guarantees zeros, unlike a plain discard), else BLKZEROOUT, which writes
// zeros where the device has no cheaper way.
func (w *writer) zeroRange(e Extent, count bool) error {
	// Sector-align the middle; write the odd edges (none for images made
	// of whole blocks) as zero bytes.
	a := (e.Offset + sector - 1) / sector * sector
	b := e.end() / sector * sector
	if a >= b {
		a, b = e.end(), e.end()
	}
	for _, edge := range []Extent{{e.Offset, a - e.Offset}, {b, e.end() - b}} {
		if edge.Length > 0 {
			if _, err := w.dst.WriteAt(make([]byte, edge.Length), edge.Offset); err != nil {
				return fmt.Errorf("zeroing at %d: %w", edge.Offset, err)
			}
		}
	}
	// Steps short enough that an interrupt is obeyed within about a
	// second even where BLKZEROOUT writes zeros.
	const step = 256 << 20
	for off := a; off < b; {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		n := min(step, b-off)
		if err := w.zero(off, n); err != nil {
			return fmt.Errorf("zeroing %d bytes at %d: %w", n, off, err)
		}
		off += n
		if count {
			w.counter.Add(n)
		}
	}
	if count {
		w.zeroed += e.Length
	}
	return nil
}

func (w *writer) zero(off, n int64) error {
	if !w.noUnmap {
		err := unix.Fallocate(int(w.dst.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
			return err
		}
		w.noUnmap = true
		w.log.Warn("the disk cannot zero by unmapping: zeros are written instead, which takes a while on a large disk"+
			" (with --grow-root all of ROOT is zeroed)", "device", w.dst.Name(), "zeroing", humanBytes(w.toZero), "err", err)
	}
	if w.block {
		r := [2]uint64{uint64(off), uint64(n)}
		return ioctlPtr(w.dst, unix.BLKZEROOUT, unsafe.Pointer(&r))
	}
	buf := make([]byte, min(n, chunk))
	for end := off + n; off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		if _, err := w.dst.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// verify drops the target's cached pages and reads back every data
// extent (compared with the image's SHA-256) and samples of every zeroed
// range. It returns the SHA-256 of the extents read back, in offset order.
func (w *writer) verify(p *plan, rep progress.Reporter, name string) (string, error) {
	// Read the disk, not the page cache: the written pages are synced,
	// so dropping them is safe. BLKFLSBUF needs CAP_SYS_ADMIN; fadvise
	// does the same for the clean pages of a file or a block device.
	if !w.block || unix.IoctlSetInt(int(w.dst.Fd()), unix.BLKFLSBUF, 0) != nil {
		if err := unix.Fadvise(int(w.dst.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return "", fmt.Errorf("dropping cached pages of %s: %w", name, err)
		}
	}
	all := append([]Extent(nil), p.data...)
	sort.Slice(all, func(i, j int) bool { return all[i].Offset < all[j].Offset })
	c := rep.Counter("verifying "+name, w.written)
	defer c.Done()
	total := sha256.New()
	buf := make([]byte, chunk)
	for _, e := range all {
		h := sha256.New()
		for off := e.Offset; off < e.end(); {
			if err := w.ctx.Err(); err != nil {
				return "", err
			}
			b := buf[:min(int64(len(buf)), e.end()-off)]
			if _, err := w.dst.ReadAt(b, off); err != nil {
				return "", fmt.Errorf("reading %s back at %d: %w", name, off, err)
			}
			h.Write(b)
			total.Write(b)
			off += int64(len(b))
			c.Add(int64(len(b)))
		}
		want := w.sums[e.Offset]
		if !bytes.Equal(h.Sum(nil), want[:]) {
			return "", verify.Errorf("verifying %s: bytes %d-%d read back differ from the baked image", name, e.Offset, e.end()-1)
		}
	}
	for _, e := range p.zero {
		for _, s := range samples(e) {
			b := buf[:s.Length]
			if _, err := w.dst.ReadAt(b, s.Offset); err != nil {
				return "", fmt.Errorf("reading %s back at %d: %w", name, s.Offset, err)
			}
			if !sparse.IsZero(b) {
				return "", verify.Errorf("verifying %s: bytes %d-%d should read as zeros but do not", name, s.Offset, s.end()-1)
			}
		}
	}
	return hex.EncodeToString(total.Sum(nil)), nil
}

// samples picks the parts of a zeroed range that are read back: all of a
// small range; the first and last 64 KiB and eight 4 KiB blocks spread
// over a large one.
func samples(e Extent) []Extent {
	const edge, blk = 64 << 10, 4 << 10
	if e.Length <= 4*edge {
		return []Extent{e}
	}
	out := []Extent{{e.Offset, edge}, {e.end() - edge, edge}}
	inner := e.Length - 2*edge - blk
	for i := int64(1); i <= 8; i++ {
		off := e.Offset + edge + inner*i/9
		out = append(out, Extent{off / blk * blk, blk})
	}
	return out
}

func ioctlPtr(f *os.File, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}
