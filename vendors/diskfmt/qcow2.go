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
	nClusters := (r.size + qcowCluster - 1) / qcowCluster
	l1Size := (nClusters + qcowL2Entries - 1) / qcowL2Entries
	l2 := make([][]uint64, l1Size)
	refs := []uint16{1} // host cluster 0: header
	ref := func(c int64) {
		for int64(len(refs)) <= c {
			refs = append(refs, 0)
		}
		refs[c]++
	}

	w := newSeqWriter(dst, qcowCluster)
	s := &scan{
		src: src, srcSize: r.srcSize, size: qcowCluster, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		newT: deflater(r.Level),
		emit: func(idx int64, data, out []byte) error {
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
					ref(hc)
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
				ref(off / qcowCluster)
			}
			t := l2[idx/qcowL2Entries]
			if t == nil {
				t = make([]uint64, qcowL2Entries)
				l2[idx/qcowL2Entries] = t
			}
			t[idx%qcowL2Entries] = entry
			return nil
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}

	// Metadata after the data, cluster-aligned.
	if err := w.Align(qcowCluster); err != nil {
		return err
	}
	be := binary.BigEndian
	l1 := make([]byte, (l1Size*8+qcowCluster-1)/qcowCluster*qcowCluster)
	tbl := make([]byte, qcowCluster)
	for i, t := range l2 {
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
		ref(off / qcowCluster)
		be.PutUint64(l1[i*8:], qcowCopied|uint64(off))
	}
	l1Off := w.off
	if _, err := w.Write(l1); err != nil {
		return err
	}
	for k := int64(0); k < int64(len(l1))/qcowCluster; k++ {
		ref(l1Off/qcowCluster + k)
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
		ref(n0 + k)
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
			if hc := b*qcowRefBlock + i; hc < int64(len(refs)) {
				be.PutUint16(blk[i*2:], refs[hc])
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
	be.PutUint64(h[24:], uint64(r.size))
	be.PutUint32(h[36:], uint32(l1Size))
	be.PutUint64(h[40:], uint64(l1Off))
	be.PutUint64(h[48:], uint64(tableOff))
	be.PutUint32(h[56:], uint32(nTable))
	if _, err := dst.WriteAt(h, 0); err != nil {
		return fmt.Errorf("writing qcow2 header of %s: %w", dst.Name(), err)
	}
	return nil
}
