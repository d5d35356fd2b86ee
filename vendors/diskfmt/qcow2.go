package diskfmt

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// Qcow2 writes qcow2 version 2 (compat 0.10) with 64 KiB clusters, every
// non-zero cluster deflate-compressed (stored plainly when it does not
// shrink) and all-zero clusters left unallocated.
//
// Layout: header in cluster 0, then the compressed data packed byte by
// byte, then the L2 tables, the L1 table, the refcount table and the
// refcount blocks, each cluster-aligned. Refcounts count every compressed
// cluster once for each host cluster its sectors touch, as qemu-img check
// does.
type Qcow2 struct{}

func (Qcow2) Name() string { return "qcow2" }
func (Qcow2) Ext() string  { return "img" }
func (Qcow2) Description() string {
	return "qcow2 (compat 0.10, compressed clusters)"
}

func (Qcow2) VirtualSize(srcSize int64, o Options) (int64, error) { return plainSize(srcSize, o) }

const (
	qcowClusterBits = 16
	qcowCluster     = 1 << qcowClusterBits
	qcowL2Entries   = qcowCluster / 8
	qcowRefBlock    = qcowCluster / 2 // 16-bit refcounts per block
	qcowCompressed  = 1 << 62
	qcowCopied      = 1 << 63
	qcowCsizeShift  = 62 - (qcowClusterBits - 8)
)

func (Qcow2) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	q := newQcow2Enc(dst)
	s := &scan{
		src: src, srcSize: r.srcSize, size: qcowCluster, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		newT: deflater(r.Level), emit: q.emit,
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	return q.finish(r.size)
}

// qcow2Enc lays out a qcow2 file: clusters are emitted in any order (each
// at most once) and packed after the header cluster; finish appends the
// tables and writes the header.
type qcow2Enc struct {
	dst  *os.File
	w    *seqWriter
	l2   map[int64][]uint64 // L2 tables by L1 index
	refs []uint16           // refcount of each host cluster
}

func newQcow2Enc(dst *os.File) *qcow2Enc {
	return &qcow2Enc{dst: dst, w: newSeqWriter(dst, qcowCluster), l2: map[int64][]uint64{}, refs: []uint16{1}} // host cluster 0: header
}

func (q *qcow2Enc) ref(c int64) {
	for int64(len(q.refs)) <= c {
		q.refs = append(q.refs, 0)
	}
	q.refs[c]++
}

// emit stores virtual cluster idx: out, its compressed form, when that is
// shorter, else data.
func (q *qcow2Enc) emit(idx int64, data, out []byte) error {
	w := q.w
	var entry uint64
	if len(out) < qcowCluster {
		off := w.off
		if _, err := w.Write(out); err != nil {
			return err
		}
		nsect := (off+int64(len(out))-1)>>9 - off>>9
		entry = qcowCompressed | uint64(nsect)<<qcowCsizeShift | uint64(off)
		first := off &^ 511
		for hc := first / qcowCluster; hc <= (first+(nsect+1)*512-1)/qcowCluster; hc++ {
			q.ref(hc)
		}
	} else {
		if err := w.Align(qcowCluster); err != nil {
			return err
		}
		off := w.off
		if _, err := w.Write(data); err != nil {
			return err
		}
		entry = qcowCopied | uint64(off)
		q.ref(off / qcowCluster)
	}
	t := q.l2[idx/qcowL2Entries]
	if t == nil {
		t = make([]uint64, qcowL2Entries)
		q.l2[idx/qcowL2Entries] = t
	}
	if t[idx%qcowL2Entries] != 0 {
		return fmt.Errorf("qcow2 cluster %d written twice", idx)
	}
	t[idx%qcowL2Entries] = entry
	return nil
}

// finish writes the metadata after the data, cluster-aligned, then the
// header, for a virtual disk of size bytes.
func (q *qcow2Enc) finish(size int64) error {
	w := q.w
	nClusters := (size + qcowCluster - 1) / qcowCluster
	l1Size := (nClusters + qcowL2Entries - 1) / qcowL2Entries
	for i := range q.l2 {
		if i >= l1Size {
			return fmt.Errorf("qcow2 cluster beyond the virtual size %d", size)
		}
	}
	if err := w.Align(qcowCluster); err != nil {
		return err
	}
	be := binary.BigEndian
	l1 := make([]byte, (l1Size*8+qcowCluster-1)/qcowCluster*qcowCluster)
	tbl := make([]byte, qcowCluster)
	for i := range l1Size {
		t := q.l2[i]
		if t == nil {
			continue
		}
		for j, e := range t {
			be.PutUint64(tbl[j*8:], e)
		}
		off := w.off
		if _, err := w.Write(tbl); err != nil {
			return err
		}
		q.ref(off / qcowCluster)
		be.PutUint64(l1[i*8:], qcowCopied|uint64(off))
	}
	l1Off := w.off
	if _, err := w.Write(l1); err != nil {
		return err
	}
	for k := int64(0); k < int64(len(l1))/qcowCluster; k++ {
		q.ref(l1Off/qcowCluster + k)
	}

	// The refcount structures cover themselves: grow until stable.
	n0 := w.off / qcowCluster
	var nBlocks, nTable int64
	for {
		total := n0 + nTable + nBlocks
		b := (total + qcowRefBlock - 1) / qcowRefBlock
		t := (b*8 + qcowCluster - 1) / qcowCluster
		if b == nBlocks && t == nTable {
			break
		}
		nBlocks, nTable = b, t
	}
	tableOff := w.off
	blocksOff := tableOff + nTable*qcowCluster
	for k := int64(0); k < nTable+nBlocks; k++ {
		q.ref(n0 + k)
	}
	table := make([]byte, nTable*qcowCluster)
	for b := int64(0); b < nBlocks; b++ {
		be.PutUint64(table[b*8:], uint64(blocksOff+b*qcowCluster))
	}
	if _, err := w.Write(table); err != nil {
		return err
	}
	blk := make([]byte, qcowCluster)
	for b := int64(0); b < nBlocks; b++ {
		clear(blk)
		for i := int64(0); i < qcowRefBlock; i++ {
			if hc := b*qcowRefBlock + i; hc < int64(len(q.refs)) {
				be.PutUint16(blk[i*2:], q.refs[hc])
			}
		}
		if _, err := w.Write(blk); err != nil {
			return err
		}
	}
	if err := w.Finish(); err != nil {
		return err
	}

	h := make([]byte, 72)
	be.PutUint32(h[0:], 0x514649fb) // "QFI\xfb"
	be.PutUint32(h[4:], 2)          // version 2 = compat 0.10
	be.PutUint32(h[20:], qcowClusterBits)
	be.PutUint64(h[24:], uint64(size))
	be.PutUint32(h[36:], uint32(l1Size))
	be.PutUint64(h[40:], uint64(l1Off))
	be.PutUint64(h[48:], uint64(tableOff))
	be.PutUint32(h[56:], uint32(nTable))
	if _, err := q.dst.WriteAt(h, 0); err != nil {
		return fmt.Errorf("writing qcow2 header of %s: %w", q.dst.Name(), err)
	}
	return nil
}
