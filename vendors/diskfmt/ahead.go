package diskfmt

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/sparse"
)

// Ahead writes a qcow2 image in two passes so that most of the work
// overlaps with whatever produces the raw source (a decompressor, then
// edits of some partitions):
//
//   - While the source is still being written, it encodes the clusters of
//     the ranges the caller expects to stay unchanged (Flatcar's USR
//     partitions, say), following the producer's progress (Advance).
//   - Finish, once the source is complete, checks that those clusters
//     still hold what was encoded (a keyed 64-bit hash of each, and zero
//     clusters still zero), encodes the rest of the source and writes the
//     tables. When any encoded cluster changed, the early work is thrown
//     away and the whole source is written again as Qcow2.Write would: the
//     expectation only decides the speed, never the content.
//
// The output holds the same virtual disk as Qcow2.Write's, with the
// clusters in another order. It is built in a temporary file in the
// output directory, renamed over the destination by Finish; Close removes
// it when Finish was not reached or failed.
type Ahead struct {
	src    *os.File
	tmp    *os.File
	keep   []sparse.Extent // cluster-aligned, sorted, disjoint
	o      Options
	seed   maphash.Seed
	enc    *qcow2Enc
	sums   []clusterSum // early clusters, in cluster order
	wm     atomic.Int64 // the source is final below this offset
	wake   chan struct{}
	done   chan struct{} // closed when the early pass ends
	err    error         // early pass result, valid after done
	cancel context.CancelFunc

	closeOnce sync.Once
	renamed   bool
}

// clusterSum records an early cluster and the hash of its contents.
type clusterSum struct {
	idx int64
	sum uint64
}

// StartQcow2Ahead starts encoding, as the file at srcPath is written, the
// clusters that lie wholly inside keep (ranges of the source, sorted and
// disjoint), into a temporary file in dir. o.Level and o.Workers are
// used as by Write; the other options are given to Finish.
func StartQcow2Ahead(ctx context.Context, srcPath, dir string, keep []sparse.Extent, o Options) (*Ahead, error) {
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if o.Level < 1 || o.Level > 9 {
		return nil, fmt.Errorf("compression level %d: use 1 to 9", o.Level)
	}
	var aligned []sparse.Extent
	last := int64(-1)
	for _, k := range keep {
		if k.Off < last || k.Len < 0 {
			return nil, fmt.Errorf("ranges to encode ahead are not sorted and disjoint at offset %d", k.Off)
		}
		last = k.End()
		// Whole clusters only, and never the header cluster.
		from := max((k.Off+qcowCluster-1)/qcowCluster*qcowCluster, qcowCluster)
		to := k.End() / qcowCluster * qcowCluster
		if to > from {
			aligned = append(aligned, sparse.Extent{Off: from, Len: to - from})
		}
	}
	src, err := os.Open(srcPath)
	if err != nil {
		return nil, fmt.Errorf("opening source to encode ahead: %w", err)
	}
	// A run's temp file: the signal path and the next run's stale sweep
	// know it by its name.
	tmp, err := atomicfile.CreateTemp(dir, "qcow2-ahead")
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("creating temporary qcow2: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &Ahead{src: src, tmp: tmp, keep: aligned, o: o, seed: maphash.MakeSeed(), enc: newQcow2Enc(tmp),
		wake: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	go a.run(ctx)
	return a, nil
}

// Advance says the source is final below end. It never blocks.
func (a *Ahead) Advance(end int64) {
	for {
		cur := a.wm.Load()
		if end <= cur {
			return
		}
		if a.wm.CompareAndSwap(cur, end) {
			break
		}
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Idle waits until the early pass has encoded all of its ranges, which
// it does once Advance has passed their end, or until ctx ends.
func (a *Ahead) Idle(ctx context.Context) error {
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the early pass.
func (a *Ahead) run(ctx context.Context) {
	defer close(a.done)
	workers := a.o.Workers
	if workers <= 0 {
		workers = runtimeWorkers()
	}
	s := &scan{
		src: a.src, size: qcowCluster, workers: workers, newT: deflater(a.o.Level), total: -1,
		extents: a.follow,
		emit: func(idx int64, data, out []byte) error {
			a.sums = append(a.sums, clusterSum{idx, maphash.Bytes(a.seed, data)})
			return a.enc.emit(idx, data, out)
		},
	}
	a.err = s.run(ctx)
}

// follow yields the data extents of the keep ranges as the source
// becomes final over whole clusters.
func (a *Ahead) follow(ctx context.Context, yield func(sparse.Extent) error) error {
	for _, k := range a.keep {
		for off := k.Off; off < k.End(); {
			lim := min(k.End(), a.wm.Load()/qcowCluster*qcowCluster)
			if lim <= off {
				select {
				case <-a.wake:
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			exts, err := sparse.DataExtents(a.src, off, lim-off)
			if err != nil {
				return err
			}
			for _, e := range exts {
				if err := yield(e); err != nil {
					return err
				}
			}
			off = lim
		}
	}
	return nil
}

// Finish completes the image from src, the finished source, and renames
// it to dstPath, which must be a staged temporary name: a file there
// (the stage's empty placeholder) is removed first. o is as for Write
// (Level and Workers as given to StartQcow2Ahead are kept).
func (a *Ahead) Finish(ctx context.Context, src *os.File, dstPath string, o Options) error {
	a.Advance(math.MaxInt64)
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	o.Level, o.Workers = a.o.Level, a.o.Workers
	r, err := resolve(src, o)
	if err != nil {
		return err
	}
	if a.err != nil && !errors.Is(a.err, context.Canceled) {
		return fmt.Errorf("encoding ahead: %w", a.err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ok := a.err == nil
	if ok {
		ok, err = a.rest(ctx, src, r, dstPath)
		if err != nil {
			return err
		}
	}
	if !ok {
		// The source changed where it was expected not to: write it all.
		if err := (Qcow2{}).Write(ctx, src, a.tmp, o); err != nil {
			return err
		}
	}
	if err := a.tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("setting mode of %s: %w", a.tmp.Name(), err)
	}
	if err := a.tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", a.tmp.Name(), err)
	}
	// dstPath may be an empty placeholder. Renaming over an existing
	// file makes ext4 start writing the renamed file out (auto_da_alloc:
	// 0.1 s for 700 MB), so the placeholder goes first.
	if err := os.Remove(dstPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("moving qcow2 into place: %w", err)
	}
	if err := os.Rename(a.tmp.Name(), dstPath); err != nil {
		return fmt.Errorf("moving qcow2 into place: %w", err)
	}
	atomicfile.Forget(a.tmp.Name())
	a.renamed = true
	return nil
}

// rest checks the early clusters against src while encoding the others,
// then writes the tables; false means an early cluster changed.
func (a *Ahead) rest(ctx context.Context, src *os.File, r resolved, dstPath string) (bool, error) {
	exts, err := sparse.DataExtents(src, 0, r.srcSize)
	if err != nil {
		return false, err
	}
	late := subtract(exts, a.keep)
	var total int64
	for _, e := range late {
		total += e.Len
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var same bool
	var verr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		same, verr = a.verify(ctx, src)
		if verr == nil && !same {
			cancel() // the late pass is wasted
		}
	}()
	s := &scan{
		src: src, srcSize: r.srcSize, size: qcowCluster, workers: r.Workers, reporter: r.Reporter,
		desc: "writing " + dstPath, newT: deflater(r.Level), emit: a.enc.emit,
		extents: allExtents(late), total: total,
	}
	err = s.run(ctx)
	wg.Wait()
	if verr != nil {
		return false, verr
	}
	if !same {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, a.enc.finish(r.size)
}

// verify reports whether every cluster of the keep ranges of src holds
// what the early pass encoded: the same hash, or zeros where it skipped a
// zero cluster.
func (a *Ahead) verify(ctx context.Context, src *os.File) (bool, error) {
	buf := make([]byte, qcowCluster)
	next := 0 // index in a.sums of the next early cluster expected
	for _, k := range a.keep {
		exts, err := sparse.DataExtents(src, k.Off, k.Len)
		if err != nil {
			return false, err
		}
		lastIdx := int64(-1)
		for _, e := range exts {
			for idx := e.Off / qcowCluster; idx*qcowCluster < e.End(); idx++ {
				if idx == lastIdx {
					continue
				}
				lastIdx = idx
				if err := ctx.Err(); err != nil {
					return false, err
				}
				clear(buf)
				if _, err := src.ReadAt(buf, idx*qcowCluster); err != nil && !errors.Is(err, io.EOF) {
					return false, fmt.Errorf("reading %s at %d: %w", src.Name(), idx*qcowCluster, err)
				}
				if isZero(buf) {
					continue
				}
				if next >= len(a.sums) || a.sums[next].idx != idx || a.sums[next].sum != maphash.Bytes(a.seed, buf) {
					return false, nil
				}
				next++
			}
		}
	}
	return next == len(a.sums), nil
}

// subtract returns the parts of exts outside the sorted ranges cut.
func subtract(exts, cut []sparse.Extent) []sparse.Extent {
	var out []sparse.Extent
	j := 0
	for _, e := range exts {
		off, end := e.Off, e.End()
		for off < end {
			for j < len(cut) && cut[j].End() <= off {
				j++
			}
			if j == len(cut) || cut[j].Off >= end {
				out = append(out, sparse.Extent{Off: off, Len: end - off})
				break
			}
			if cut[j].Off > off {
				out = append(out, sparse.Extent{Off: off, Len: cut[j].Off - off})
			}
			off = cut[j].End()
		}
	}
	return out
}

// Close stops the early pass and removes the temporary file unless
// Finish moved it into place. It is safe to call more than once.
func (a *Ahead) Close() error {
	a.closeOnce.Do(func() {
		a.cancel()
		<-a.done
		a.src.Close()
		if !a.renamed {
			a.tmp.Close()
			atomicfile.Remove(a.tmp.Name())
		}
	})
	return nil
}

func runtimeWorkers() int { return runtime.GOMAXPROCS(0) }
