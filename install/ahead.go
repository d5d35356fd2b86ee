package install

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"unicode/utf16"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sparse"
)

// ahead writes to the target, while the bake's working copy is still
// being decoded, the data of the ranges the bake does not edit: from the
// end of the primary GPT to OEM (ESP, BIOS-BOOT, USR-A, USR-B, of the base
// layout) and from OEM's end to ROOT (OEM-CONFIG). It follows the
// decoder's Written offset, so it reads only bytes that are final.
//
// Before its first write it zeroes and syncs both partition table areas
// of the target, as the writer does: from then on the target has no valid
// table until the install finishes. What it wrote is only a head start:
// the writer compares each extent written ahead with the finished, fitted
// image and writes again what differs, and the read-back verification
// covers every extent (see writer.already).
type ahead struct {
	ctx    context.Context
	cancel context.CancelFunc
	dst    *os.File
	block  bool
	size   int64 // of the target
	log    *slog.Logger
	ranges []Extent // what may be written ahead, sorted
	punch  []bool   // per range: punch what was written out of the working copy

	once   sync.Once
	wake   chan struct{} // buffered 1: Follow's non-blocking nudge
	done   chan struct{} // closed when run returns
	mu     sync.Mutex
	path   string
	end    int64
	closed bool // no more Follow calls: the working copy is complete

	// Owned by run until done is closed.
	src     *os.File
	pos     []int64 // per range: written up to here
	started bool    // the table areas are zeroed: the target was changed
	wrote   []Extent
	sums    map[int64][32]byte // extent offset -> SHA-256 of the bytes written
	length  map[int64]int64    // extent offset -> length
	held    []Extent           // extents punched out of the working copy: the target holds them
	blksize int64              // the working copy's block size: only whole blocks are punched
	written int64
	err     error
	skipped string // why nothing was written ahead, for the log
}

func newAhead(ctx context.Context, dst *os.File, block bool, size int64, log *slog.Logger) *ahead {
	ctx, cancel := context.WithCancel(ctx)
	a := &ahead{ctx: ctx, cancel: cancel, dst: dst, block: block, size: size, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), sums: map[int64][32]byte{}, length: map[int64]int64{}}
	first, end := map[string]int64{}, map[string]int64{}
	for _, p := range flatcar.BaseLayout {
		first[p.Label] = int64(p.FirstSector) * sector
		end[p.Label] = int64(p.FirstSector+p.Sectors) * sector
	}
	oem, root, usrA := flatcar.LabelOEM, flatcar.LabelROOT, flatcar.LabelUSRA
	for _, r := range []struct {
		Extent
		punch bool
	}{
		{Extent{primarySectors * sector, first[usrA] - primarySectors*sector}, false}, // ESP (read by the bake), BIOS-BOOT
		{Extent{first[usrA], first[oem] - first[usrA]}, true},                         // USR-A, USR-B
		{Extent{end[oem], first[root] - end[oem]}, false},                             // OEM-CONFIG
	} {
		// Never into the backup table area of the target.
		if r.end() <= size-backupSectors*sector {
			a.ranges = append(a.ranges, r.Extent)
			a.punch = append(a.punch, r.punch)
		}
	}
	a.pos = make([]int64, len(a.ranges))
	for i, r := range a.ranges {
		a.pos[i] = r.Offset
	}
	return a
}

// Follow is bake.Options.WorkingCopyWritten: the working copy at path is
// final below end. It only records and nudges; run does the work.
func (a *ahead) Follow(path string, end int64) {
	a.mu.Lock()
	if a.path == "" {
		a.path = path
	}
	if path == a.path && end > a.end {
		a.end = end
	}
	a.mu.Unlock()
	a.once.Do(func() { go a.run() })
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// finish waits until everything the finished working copy allows was
// written ahead (the bake returned: no more Follow calls) and returns
// what was written, or the error that stopped it.
func (a *ahead) finish() error {
	a.mu.Lock()
	a.closed = true
	started := a.path != ""
	a.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
	<-a.done
	if a.skipped != "" {
		a.log.Debug("nothing written while decoding", "why", a.skipped)
	}
	return a.err
}

// stop ends run early (the bake failed) and reports whether the target
// was changed.
func (a *ahead) stop() bool {
	a.cancel()
	a.mu.Lock()
	started := a.path != ""
	a.mu.Unlock()
	if started {
		<-a.done
	}
	return a.started
}

func (a *ahead) run() {
	defer close(a.done)
	defer func() {
		if a.src != nil {
			a.src.Close()
		}
	}()
	for {
		a.mu.Lock()
		path, end, closed := a.path, a.end, a.closed
		a.mu.Unlock()
		if err := a.step(path, end); err != nil {
			a.err = err
			return
		}
		if a.skipped != "" || closed && a.caughtUp(end) {
			if a.started {
				// Written data reaches the disk while the bake goes on,
				// not in the writer's final sync.
				if err := a.dst.Sync(); err != nil {
					a.err = fmt.Errorf("syncing: %w", err)
				}
			}
			return
		}
		select {
		case <-a.ctx.Done():
			return
		case <-a.wake:
		}
	}
}

func (a *ahead) caughtUp(end int64) bool {
	for i, r := range a.ranges {
		if a.pos[i] < min(r.end(), end/(1<<20)*(1<<20)) {
			return false
		}
	}
	return true
}

// step writes the data of the ranges below end that is not written yet.
func (a *ahead) step(path string, end int64) error {
	if a.skipped != "" {
		return nil
	}
	if a.src == nil {
		if end < primarySectors*sector {
			return nil
		}
		src, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			a.skipped = err.Error()
			return nil
		}
		a.src = src
		a.blksize = 1 << 20
		var st unix.Stat_t
		if unix.Fstat(int(src.Fd()), &st) == nil && st.Blksize > 0 && st.Blksize <= 1<<20 {
			a.blksize = int64(st.Blksize)
		}
		if why := a.check(); why != "" {
			a.skipped = why
			return nil
		}
	}
	for i, r := range a.ranges {
		// Whole MiBs: the extents written (and punched) then start and
		// end on block boundaries, as SEEK_DATA reports them.
		stop := min(r.end(), end/(1<<20)*(1<<20))
		if a.pos[i] >= stop {
			continue
		}
		exts, err := sparse.DataExtents(a.src, a.pos[i], stop-a.pos[i])
		if err != nil {
			return fmt.Errorf("reading the working copy: %w", err)
		}
		for _, e := range exts {
			x := Extent{e.Off, e.Len}
			// The decoder seeks over zeros, so the file may end short of
			// end, inside a block: that block's rest is final zeros, and
			// the finished file has the whole block as data.
			if r := x.end() % a.blksize; r != 0 {
				x.Length = min(x.end()+a.blksize-r, stop) - x.Offset
			}
			if err := a.copy(x); err != nil {
				return err
			}
			// The bake never reads USR-A or USR-B, and the writer takes
			// them as written: the scratch directory then needs room
			// only for the rest of the image's data.
			if a.punch[i] && x.Offset%a.blksize == 0 && x.Length%a.blksize == 0 {
				if err := sparse.PunchHole(a.src, x.Offset, x.Length); err == nil {
					a.held = append(a.held, x)
				}
			}
		}
		a.pos[i] = stop
	}
	return nil
}

// check reads the working copy's primary GPT header (final once the
// decoder passed it): the image must fit the target and reach past the
// ranges. Otherwise nothing is written ahead, and the usual checks after
// the bake give the error.
func (a *ahead) check() string {
	h := make([]byte, sector)
	if err := a.readFinal(h, sector); err != nil {
		return "reading the GPT header: " + err.Error()
	}
	if string(h[:8]) != "EFI PART" {
		return "no GPT header"
	}
	size := int64(binary.LittleEndian.Uint64(h[32:40])+1) * sector
	if size > a.size || size <= 0 {
		return fmt.Sprintf("the image (%d bytes) does not fit the target", size)
	}
	if n := len(a.ranges); n == 0 || a.ranges[n-1].end() > size {
		return "the image is smaller than the base layout"
	}
	return a.checkLayout(h)
}

// checkLayout requires the primary GPT's entries to be exactly the base
// layout (labels, first and last sectors), so that the ranges hold no
// partition the bake edits or reads (ROOT, OEM), whatever the image.
func (a *ahead) checkLayout(h []byte) string {
	lba := int64(binary.LittleEndian.Uint64(h[72:80]))
	count := int64(binary.LittleEndian.Uint32(h[80:84]))
	size := int64(binary.LittleEndian.Uint32(h[84:88]))
	if lba < 2 || size < 128 || count <= 0 || count > 1024 || (lba*sector+count*size) > primarySectors*sector {
		return "the primary GPT entries are not in the first 34 sectors"
	}
	entries := make([]byte, count*size)
	if err := a.readFinal(entries, lba*sector); err != nil {
		return "reading the GPT entries: " + err.Error()
	}
	want := map[string]flatcar.PartitionSpec{}
	for _, p := range flatcar.BaseLayout {
		want[p.Label] = p
	}
	found := 0
	for i := int64(0); i < count; i++ {
		e := entries[i*size : (i+1)*size]
		if sparse.IsZero(e[:16]) {
			continue
		}
		u := make([]uint16, 0, 36)
		for j := 56; j+1 < 128; j += 2 {
			c := binary.LittleEndian.Uint16(e[j:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		label := string(utf16.Decode(u))
		first, last := binary.LittleEndian.Uint64(e[32:40]), binary.LittleEndian.Uint64(e[40:48])
		p, ok := want[label]
		if !ok || first != p.FirstSector || last != p.FirstSector+p.Sectors-1 {
			return fmt.Sprintf("partition %q at sectors %d-%d is not the base layout's", label, first, last)
		}
		found++
	}
	if found != len(flatcar.BaseLayout) {
		return "the image does not have the base layout's partitions"
	}
	return ""
}

func (a *ahead) copy(e Extent) error {
	if !a.started {
		w := &writer{ctx: a.ctx, dst: a.dst, block: a.block, log: a.log}
		for _, t := range []Extent{{0, primarySectors * sector}, {a.size - backupSectors*sector, backupSectors * sector}} {
			if err := w.zeroRange(t, false); err != nil {
				return err
			}
		}
		if err := a.dst.Sync(); err != nil {
			return fmt.Errorf("syncing: %w", err)
		}
		a.started = true
	}
	buf := make([]byte, min(e.Length, chunk))
	h := sha256.New()
	for off := e.Offset; off < e.end(); {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), e.end()-off)]
		if err := a.readFinal(b, off); err != nil {
			return fmt.Errorf("reading the working copy at %d: %w", off, err)
		}
		h.Write(b)
		if _, err := a.dst.WriteAt(b, off); err != nil {
			return fmt.Errorf("writing at %d: %w", off, err)
		}
		off += int64(len(b))
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	a.sums[e.Offset] = sum
	a.length[e.Offset] = e.Length
	a.wrote = append(a.wrote, e)
	a.written += e.Length
	return nil
}

// bounds are the offsets where the plan's extents are cut so that each
// extent written ahead is one extent of the plan.
func (a *ahead) bounds() []int64 {
	var out []int64
	for _, e := range a.wrote {
		out = append(out, e.Offset, e.end())
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// isHeld reports whether e is one of the extents punched out of the
// working copy.
func (a *ahead) isHeld(e Extent) bool {
	i := sort.Search(len(a.held), func(i int) bool { return a.held[i].Offset >= e.Offset })
	return i < len(a.held) && a.held[i] == e
}

// readFinal reads the working copy below the decoder's Written offset.
// The decoder seeks over zeros, so the file may still end before that
// offset: bytes past its end are final zeros.
func (a *ahead) readFinal(b []byte, off int64) error {
	n, err := a.src.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		clear(b[n:])
		return nil
	}
	return err
}
