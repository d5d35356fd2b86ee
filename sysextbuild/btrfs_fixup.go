package sysextbuild

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// btrfs on-disk layout used by btrfsFixInodes (see the btrfs
// documentation "On-disk format"): little-endian, a 4 KiB superblock at
// 64 KiB, tree blocks of nodesize bytes with a 101-byte header, leaves
// holding 25-byte item headers, internal nodes 33-byte key pointers.
const (
	btrfsSuperOffset    = 0x10000
	btrfsSuperSize      = 0x1000
	btrfsHeaderSize     = 0x65
	btrfsKeySize        = 17
	btrfsItemSize       = btrfsKeySize + 8
	btrfsKeyPtrSize     = btrfsKeySize + 16
	btrfsChunkItemSize  = 48
	btrfsStripeSize     = 32
	btrfsInodeItemSize  = 160
	btrfsRootItemFull   = 439
	btrfsTypeInodeItem  = 1
	btrfsTypeRootItem   = 132
	btrfsTypeChunkItem  = 228
	btrfsSuperMagic     = "_BHRfS_M"
	btrfsCsumCRC32C     = 0
	btrfsInodeTimesOff  = 112 // atime, ctime, mtime, otime: 12 bytes each
	btrfsRootItemCtime  = 327 // ctime, otime, stime, rtime
	btrfsInodeUIDOffset = 44
)

// btrfsChunk maps a logical range to its physical copies on device 1.
type btrfsChunk struct {
	logical, length uint64
	physical        []uint64
}

// btrfsImage patches tree blocks of a single-device btrfs image in place.
type btrfsImage struct {
	f        *os.File
	nodesize uint32
	chunks   []btrfsChunk
	epoch    int64
}

// btrfsFixInodes rewrites every inode item of every tree (and the inode
// and times embedded in root items) so that the owner is 0:0 and atime,
// ctime, mtime and otime are epoch, recomputing the CRC32C of each changed
// tree block and writing it to every copy. mkfs.btrfs --rootdir copies
// owners and ctime from the source and stamps the root directory with the
// current time; this makes them ours. Only item payloads change, never
// keys, so no tree is rebalanced.
func btrfsFixInodes(path string, epoch int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening btrfs image: %w", err)
	}
	defer f.Close()
	sb := make([]byte, btrfsSuperSize)
	if _, err := f.ReadAt(sb, btrfsSuperOffset); err != nil {
		return fmt.Errorf("reading btrfs superblock: %w", err)
	}
	if string(sb[0x40:0x48]) != btrfsSuperMagic {
		return errors.New("reading btrfs superblock: bad magic")
	}
	if le16(sb, 0xC4) != btrfsCsumCRC32C {
		return fmt.Errorf("btrfs checksum type %d is not crc32c", le16(sb, 0xC4))
	}
	if le64(sb, 0x88) != 1 {
		return fmt.Errorf("btrfs image has %d devices, want 1", le64(sb, 0x88))
	}
	img := &btrfsImage{f: f, nodesize: le32(sb, 0x94), epoch: epoch}
	// The system chunks are in the superblock; the rest in the chunk tree.
	arr := sb[0x32B : 0x32B+int(le32(sb, 0xA0))]
	for len(arr) > 0 {
		if len(arr) < btrfsKeySize+btrfsChunkItemSize {
			return errors.New("reading btrfs system chunk array: truncated")
		}
		n, err := img.addChunk(le64(arr, 9), arr[btrfsKeySize:])
		if err != nil {
			return err
		}
		arr = arr[btrfsKeySize+n:]
	}
	if err := img.walk(le64(sb, 0x58), img.collectChunks); err != nil {
		return fmt.Errorf("reading btrfs chunk tree: %w", err)
	}
	var roots []uint64
	err = img.walk(le64(sb, 0x50), func(block []byte, item []byte, typ uint8, _ uint64) bool {
		changed := false
		if typ == btrfsTypeRootItem && len(item) >= btrfsInodeItemSize {
			roots = append(roots, le64(item, 176))
			changed = img.fixInode(item[:btrfsInodeItemSize])
			if len(item) >= btrfsRootItemFull {
				for i := 0; i < 4; i++ {
					changed = setTimespec(item[btrfsRootItemCtime+12*i:], epoch) || changed
				}
			}
		}
		if typ == btrfsTypeInodeItem && len(item) >= btrfsInodeItemSize {
			changed = img.fixInode(item) || changed
		}
		return changed
	})
	if err != nil {
		return fmt.Errorf("fixing btrfs root tree: %w", err)
	}
	for _, r := range roots {
		err := img.walk(r, func(_ []byte, item []byte, typ uint8, _ uint64) bool {
			return typ == btrfsTypeInodeItem && len(item) >= btrfsInodeItemSize && img.fixInode(item)
		})
		if err != nil {
			return fmt.Errorf("fixing btrfs tree at %d: %w", r, err)
		}
	}
	return nil
}

// addChunk records a chunk item; it returns the item's size.
func (img *btrfsImage) addChunk(logical uint64, c []byte) (int, error) {
	stripes := int(le16(c, 44))
	size := btrfsChunkItemSize + stripes*btrfsStripeSize
	if stripes == 0 || len(c) < size {
		return 0, errors.New("reading btrfs chunk item: truncated")
	}
	ch := btrfsChunk{logical: logical, length: le64(c, 0)}
	for i := 0; i < stripes; i++ {
		s := c[btrfsChunkItemSize+i*btrfsStripeSize:]
		if le64(s, 0) != 1 {
			return 0, fmt.Errorf("btrfs chunk at %d is on device %d, want 1", logical, le64(s, 0))
		}
		ch.physical = append(ch.physical, le64(s, 8))
	}
	for _, o := range img.chunks {
		if o.logical == logical {
			return size, nil
		}
	}
	img.chunks = append(img.chunks, ch)
	return size, nil
}

func (img *btrfsImage) collectChunks(_ []byte, item []byte, typ uint8, offset uint64) bool {
	if typ == btrfsTypeChunkItem {
		if _, err := img.addChunk(offset, item); err != nil {
			return false
		}
	}
	return false
}

// physical returns every physical offset of a logical address.
func (img *btrfsImage) physical(logical uint64) ([]int64, error) {
	for _, c := range img.chunks {
		if logical >= c.logical && logical < c.logical+c.length {
			var out []int64
			for _, p := range c.physical {
				out = append(out, int64(p+logical-c.logical))
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no btrfs chunk maps logical address %d", logical)
}

// walk visits every leaf item below the tree block at logical, calling fn
// with the block, the item payload, key type and key offset; when fn
// reports a change the block's checksum is recomputed and every copy is
// rewritten.
func (img *btrfsImage) walk(logical uint64, fn func(block, item []byte, typ uint8, offset uint64) bool) error {
	phys, err := img.physical(logical)
	if err != nil {
		return err
	}
	block := make([]byte, img.nodesize)
	if _, err := img.f.ReadAt(block, phys[0]); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading tree block %d: %w", logical, err)
	}
	if le64(block, 0x30) != logical {
		return fmt.Errorf("tree block at %d claims address %d", logical, le64(block, 0x30))
	}
	if crc32.Checksum(block[0x20:], crc32.MakeTable(crc32.Castagnoli)) != le32(block, 0) {
		return fmt.Errorf("tree block %d: bad checksum", logical)
	}
	n := int(le32(block, 0x60))
	level := block[0x64]
	if level > 0 {
		for i := 0; i < n; i++ {
			p := btrfsHeaderSize + i*btrfsKeyPtrSize
			if err := img.walk(le64(block, p+btrfsKeySize), fn); err != nil {
				return err
			}
		}
		return nil
	}
	changed := false
	for i := 0; i < n; i++ {
		h := btrfsHeaderSize + i*btrfsItemSize
		off := btrfsHeaderSize + int(le32(block, h+btrfsKeySize))
		size := int(le32(block, h+btrfsKeySize+4))
		if off+size > len(block) {
			return fmt.Errorf("tree block %d: item %d out of bounds", logical, i)
		}
		if fn(block, block[off:off+size], block[h+8], le64(block, h+9)) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	binary.LittleEndian.PutUint32(block[0:], crc32.Checksum(block[0x20:], crc32.MakeTable(crc32.Castagnoli)))
	for _, p := range phys {
		if _, err := img.f.WriteAt(block, p); err != nil {
			return fmt.Errorf("writing tree block %d: %w", logical, err)
		}
	}
	return nil
}

// fixInode sets owner 0:0 and the four times of an inode item.
func (img *btrfsImage) fixInode(item []byte) bool {
	changed := false
	for _, o := range []int{btrfsInodeUIDOffset, btrfsInodeUIDOffset + 4} {
		if le32(item, o) != 0 {
			binary.LittleEndian.PutUint32(item[o:], 0)
			changed = true
		}
	}
	for i := 0; i < 4; i++ {
		changed = setTimespec(item[btrfsInodeTimesOff+12*i:], img.epoch) || changed
	}
	return changed
}

func setTimespec(b []byte, epoch int64) bool {
	if le64(b, 0) == uint64(epoch) && le32(b, 8) == 0 {
		return false
	}
	binary.LittleEndian.PutUint64(b, uint64(epoch))
	binary.LittleEndian.PutUint32(b[8:], 0)
	return true
}

func le16(b []byte, o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
func le32(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
func le64(b []byte, o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
