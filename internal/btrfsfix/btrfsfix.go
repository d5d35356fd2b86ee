// Package btrfsfix owns what btrfs-progs 6.2 cannot be told to do when
// making a single-device btrfs image from a directory: a reproducible run
// of mkfs.btrfs (Mkfs: a name-ordered copy on a fresh tmpfs), and in-place
// edits of the result (Fix): owners, timestamps, the filesystem, device,
// chunk-tree and top subvolume UUIDs, device numbers, inode modes and
// flags, and zeroing the stale bytes mkfs.btrfs leaves behind. Both btrfs
// writers use it: the btrfs sysext packer and the rootless OEM rebuild.
// It also reads what an existing filesystem holds (Scan), so the OEM
// rebuild knows what it must keep.
//
// Only item payloads change, never item sizes and never the order of
// keys (the one key rewritten, the top subvolume's in the UUID tree, is
// the only item of its leaf), so no tree is rebalanced; each changed tree
// block gets its CRC32C recomputed and is written to every copy, and
// every superblock copy is rewritten with its own checksum.
package btrfsfix

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// On-disk layout (see the btrfs documentation "On-disk format"):
// little-endian, 4 KiB superblocks at 64 KiB, 64 MiB and 256 GiB, tree
// blocks of nodesize bytes with a 101-byte header, leaves holding 25-byte
// item headers, internal nodes 33-byte key pointers.
const (
	superOffset   = 0x10000
	superSize     = 0x1000
	headerSize    = 0x65
	keySize       = 17
	itemSize      = keySize + 8
	keyPtrSize    = keySize + 16
	chunkItemSize = 48
	stripeSize    = 32
	inodeItemSize = 160
	rootItemFull  = 439
	superMagic    = "_BHRfS_M"
	csumCRC32C    = 0

	hdrChunkUUID = 0x40 // chunk_tree_uuid in every tree block header

	sbDevItem    = 0xC9
	devItemUUID  = 66 // uuid inside a dev item
	devItemFSID  = 82 // fsid inside a dev item
	sbSysArrSize = 0xA0
	sbSysArr     = 0x32B
	stripeUUID   = 16 // dev_uuid inside a chunk stripe
	devExtUUID   = 32 // chunk_tree_uuid inside a dev extent
	rootItemUUID = 247

	inodeNlink  = 40
	inodeUID    = 44
	inodeMode   = 52
	inodeRdev   = 56
	inodeFlags  = 64
	inodeTimes  = 112 // atime, ctime, mtime, otime: 12 bytes each
	rootItemCtm = 327 // ctime, otime, stime, rtime

	typeInodeItem  = 1
	typeInodeRef   = 12
	typeInodeExt   = 13 // INODE_EXTREF: names past what an INODE_REF holds
	typeXattrItem  = 24
	typeDirItem    = 84
	typeDirIndex   = 96
	typeExtentData = 108
	typeRootItem   = 132
	typeDevExtent  = 204
	typeDevItem    = 216
	typeChunkItem  = 228
	typeUUIDSubvol = 251

	fsTreeObjectID   = 5
	firstFreeObjID   = 256
	lastFreeObjectID = ^uint64(0) - 256
)

// Options says what Fix changes; zero fields change nothing.
type Options struct {
	// RootOwners makes every inode owned by 0:0.
	RootOwners bool
	// Epoch, when set (HaveEpoch), is the time every inode takes: all four
	// times set to it, or with ClampTimes atime and mtime only lowered to
	// it (SOURCE_DATE_EPOCH clamping, so older times stay) while ctime and
	// otime, which no rebuild can keep, are set to it. Root items' times
	// are set to it.
	Epoch      int64
	HaveEpoch  bool
	ClampTimes bool
	// IDs replaces the device UUID, the chunk-tree UUID and the top
	// subvolume's UUID (zero members are kept).
	IDs IDs
	// Inodes patches inodes of the top subvolume by path ("/a/b"): device
	// numbers and inode flags that mkfs.btrfs --rootdir does not copy.
	Inodes map[string]InodePatch
}

// IDs are the UUIDs mkfs.btrfs picks at random besides the filesystem
// UUID.
type IDs struct {
	// FS is the filesystem UUID (fsid): rewriting it lets mkfs.btrfs run
	// with a throw-away UUID, so its check that -U is unique among the
	// host's devices cannot fail on a copy of a filesystem the host sees.
	FS                     [16]byte
	Dev, ChunkTree, FSTree [16]byte
}

// InodePatch is what Fix sets in one inode.
type InodePatch struct {
	Rdev     uint64
	SetRdev  bool
	Flags    uint64
	SetFlags bool
	// Atime, Otime and (with SetMtime) Mtime as seconds and nanoseconds,
	// set after any epoch rule: the original times of untouched entries.
	Atime, Mtime, Otime [2]int64
	SetTimes, SetMtime  bool
	// Mode (permission bits), UID and GID, for the root directory, which
	// mkfs.btrfs makes itself.
	Mode     uint32
	UID, GID uint32
	SetMode  bool
	SetOwner bool
}

// DerivedIDs derives the random UUIDs of a filesystem from its filesystem
// UUID, so that two images with the same UUID get the same bytes.
func DerivedIDs(fsid [16]byte) IDs {
	d := func(what string) [16]byte {
		h := sha256.Sum256(append([]byte("bake-os btrfs "+what+" "), fsid[:]...))
		var u [16]byte
		copy(u[:], h[:16])
		u[6] = u[6]&0x0f | 0x40 // version 4 layout, as mkfs makes
		u[8] = u[8]&0x3f | 0x80
		return u
	}
	return IDs{FS: fsid, Dev: d("device"), ChunkTree: d("chunk tree"), FSTree: d("subvolume")}
}

// ParseUUID parses the textual form of a UUID.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	j := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		if j >= 32 {
			return u, fmt.Errorf("invalid UUID %q", s)
		}
		v, ok := hexVal(s[i])
		if !ok {
			return u, fmt.Errorf("invalid UUID %q", s)
		}
		u[j/2] |= v << (4 * (1 - uint(j%2)))
		j++
	}
	if j != 32 {
		return u, fmt.Errorf("invalid UUID %q", s)
	}
	return u, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// chunk maps a logical range to its physical copies on device 1.
type chunk struct {
	logical, length uint64
	flags           uint64 // block group type: data 1, system 2, metadata 4
	physical        []uint64
}

// image reads and patches tree blocks of a single-device btrfs image.
type image struct {
	f        *os.File
	size     int64
	sb       []byte
	nodesize uint32
	chunks   []chunk
	verify   bool
	visited  map[uint64]bool
}

func open(path string, write bool) (*image, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("opening btrfs image: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening btrfs image: %w", err)
	}
	img := &image{f: f, size: st.Size(), sb: make([]byte, superSize)}
	if err := img.load(); err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

func (img *image) load() error {
	sb := img.sb
	if _, err := img.f.ReadAt(sb, superOffset); err != nil {
		return fmt.Errorf("reading btrfs superblock: %w", err)
	}
	if string(sb[0x40:0x48]) != superMagic {
		return errors.New("reading btrfs superblock: bad magic")
	}
	if le16(sb, 0xC4) != csumCRC32C {
		return fmt.Errorf("btrfs checksum type %d is not crc32c", le16(sb, 0xC4))
	}
	if crc(sb[0x20:]) != le32(sb, 0) {
		return errors.New("reading btrfs superblock: bad checksum")
	}
	if le64(sb, 0x88) != 1 {
		return fmt.Errorf("btrfs image has %d devices, want 1", le64(sb, 0x88))
	}
	img.nodesize = le32(sb, 0x94)
	if img.nodesize < 4096 || img.nodesize > 65536 {
		return fmt.Errorf("btrfs nodesize %d out of range", img.nodesize)
	}
	n := int(le32(sb, sbSysArrSize))
	if n > superSize-sbSysArr {
		return errors.New("reading btrfs system chunk array: too long")
	}
	arr := sb[sbSysArr : sbSysArr+n]
	for len(arr) > 0 {
		if len(arr) < keySize+chunkItemSize {
			return errors.New("reading btrfs system chunk array: truncated")
		}
		k, err := img.addChunk(le64(arr, 9), arr[keySize:])
		if err != nil {
			return err
		}
		arr = arr[keySize+k:]
	}
	img.verify = true
	img.visited = map[uint64]bool{}
	err := img.walk(le64(sb, 0x58), func(blk []byte, it item) bool {
		if it.typ == typeChunkItem {
			img.addChunk(it.offset, it.data)
		}
		return false
	}, nil)
	if err != nil {
		return fmt.Errorf("reading btrfs chunk tree: %w", err)
	}
	return nil
}

// addChunk records a chunk item; it returns the item's size.
func (img *image) addChunk(logical uint64, c []byte) (int, error) {
	if len(c) < chunkItemSize {
		return 0, errors.New("reading btrfs chunk item: truncated")
	}
	stripes := int(le16(c, 44))
	size := chunkItemSize + stripes*stripeSize
	if stripes == 0 || len(c) < size {
		return 0, errors.New("reading btrfs chunk item: truncated")
	}
	ch := chunk{logical: logical, length: le64(c, 0), flags: le64(c, 24)}
	for i := 0; i < stripes; i++ {
		s := c[chunkItemSize+i*stripeSize:]
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

// physical returns every physical offset of a logical address.
func (img *image) physical(logical uint64) ([]int64, error) {
	for _, c := range img.chunks {
		if logical >= c.logical && logical-c.logical < c.length {
			var out []int64
			for _, p := range c.physical {
				o := int64(p + logical - c.logical)
				if o < 0 || o+int64(img.nodesize) > img.size {
					return nil, fmt.Errorf("tree block %d lies outside the image", logical)
				}
				out = append(out, o)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no btrfs chunk maps logical address %d", logical)
}

// item is one leaf item: its key and payload (a slice of the block).
type item struct {
	objectid uint64
	typ      uint8
	offset   uint64
	key      []byte // the key in the item header, for rewriting
	data     []byte
}

// walk visits every tree block below logical once: onBlock (if set) sees
// each block, fn each leaf item. When either reports a change the block's
// checksum is recomputed and every copy is rewritten.
func (img *image) walk(logical uint64, fn func(block []byte, it item) bool, onBlock func(block []byte) bool) error {
	if img.visited[logical] {
		return nil
	}
	img.visited[logical] = true
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
	if img.verify && crc(block[0x20:]) != le32(block, 0) {
		return fmt.Errorf("tree block %d: bad checksum", logical)
	}
	changed := false
	if onBlock != nil {
		changed = onBlock(block)
	}
	n := int(le32(block, 0x60))
	level := block[0x64]
	if level > 0 {
		if headerSize+n*keyPtrSize > len(block) {
			return fmt.Errorf("tree block %d: too many pointers", logical)
		}
		for i := 0; i < n; i++ {
			p := headerSize + i*keyPtrSize
			if err := img.walk(le64(block, p+keySize), fn, onBlock); err != nil {
				return err
			}
		}
	} else {
		if headerSize+n*itemSize > len(block) {
			return fmt.Errorf("tree block %d: too many items", logical)
		}
		for i := 0; i < n; i++ {
			h := headerSize + i*itemSize
			off := headerSize + int(le32(block, h+keySize))
			size := int(le32(block, h+keySize+4))
			if off < headerSize || size < 0 || off+size > len(block) {
				return fmt.Errorf("tree block %d: item %d out of bounds", logical, i)
			}
			it := item{objectid: le64(block, h), typ: block[h+8], offset: le64(block, h+9),
				key: block[h : h+keySize], data: block[off : off+size]}
			if fn != nil && fn(block, it) {
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	binary.LittleEndian.PutUint32(block[0:], crc(block[0x20:]))
	for _, p := range phys {
		if _, err := img.f.WriteAt(block, p); err != nil {
			return fmt.Errorf("writing tree block %d: %w", logical, err)
		}
	}
	return nil
}

// roots lists the tree roots named in the root tree (objectid, bytenr).
func (img *image) roots() (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	img.visited = map[uint64]bool{}
	err := img.walk(le64(img.sb, 0x50), func(_ []byte, it item) bool {
		if it.typ == typeRootItem && len(it.data) >= inodeItemSize+24 {
			out[it.objectid] = le64(it.data, 176)
		}
		return false
	}, nil)
	return out, err
}

// paths maps the inodes of the tree at root to their paths ("/a/b"; one
// of them for hardlinks), from the INODE_REF items.
func (img *image) paths(root uint64) (map[uint64][]string, error) {
	type ref struct {
		parent uint64
		name   string
	}
	refs := map[uint64][]ref{}
	img.visited = map[uint64]bool{}
	err := img.walk(root, func(_ []byte, it item) bool {
		if it.typ == typeInodeExt {
			for d := it.data; len(d) >= 18; {
				n := int(le16(d, 16))
				if 18+n > len(d) {
					break
				}
				refs[it.objectid] = append(refs[it.objectid], ref{le64(d, 0), string(d[18 : 18+n])})
				d = d[18+n:]
			}
			return false
		}
		if it.typ != typeInodeRef {
			return false
		}
		d := it.data
		for len(d) >= 10 {
			n := int(le16(d, 8))
			if 10+n > len(d) {
				break
			}
			refs[it.objectid] = append(refs[it.objectid], ref{it.offset, string(d[10 : 10+n])})
			d = d[10+n:]
		}
		return false
	}, nil)
	if err != nil {
		return nil, err
	}
	out := map[uint64][]string{firstFreeObjID: {"/"}}
	var resolve func(ino uint64, depth int) []string
	resolve = func(ino uint64, depth int) []string {
		if p, ok := out[ino]; ok {
			return p
		}
		if depth > 4096 {
			return nil
		}
		out[ino] = nil // in progress: a cycle of references ends here
		var ps []string
		for _, r := range refs[ino] {
			if r.parent == ino {
				continue
			}
			parents := resolve(r.parent, depth+1)
			if len(parents) == 0 {
				continue
			}
			pp := parents[0]
			if pp == "/" {
				pp = ""
			}
			ps = append(ps, pp+"/"+r.name)
		}
		out[ino] = ps
		return ps
	}
	for ino := range refs {
		resolve(ino, 0)
	}
	return out, nil
}

// Fix edits the btrfs image at path in place as o says.
func Fix(path string, o Options) error {
	img, err := open(path, true)
	if err != nil {
		return err
	}
	defer img.f.Close()
	roots, err := img.roots()
	if err != nil {
		return fmt.Errorf("reading btrfs root tree: %w", err)
	}
	byIno := map[uint64]InodePatch{}
	if len(o.Inodes) > 0 {
		fsRoot, ok := roots[fsTreeObjectID]
		if !ok {
			return errors.New("btrfs image has no top subvolume")
		}
		paths, err := img.paths(fsRoot)
		if err != nil {
			return fmt.Errorf("reading btrfs file tree: %w", err)
		}
		byPath := map[string]uint64{}
		for ino, ps := range paths {
			for _, p := range ps {
				byPath[p] = ino
			}
		}
		for p, patch := range o.Inodes {
			ino, ok := byPath[p]
			if !ok {
				return fmt.Errorf("patching btrfs inode: %s not in the image", p)
			}
			byIno[ino] = patch
		}
	}
	zero := [16]byte{}
	if o.IDs.FS != zero && le64(img.sb, 0xBC)&(1<<10) != 0 {
		return errors.New("btrfs image has a separate metadata UUID: cannot rewrite its filesystem UUID")
	}
	onBlock := func(block []byte) bool {
		changed := clearFree(block)
		if o.IDs.FS != zero {
			changed = setBytes(block[0x20:], o.IDs.FS[:]) || changed
		}
		if o.IDs.ChunkTree != zero {
			changed = setBytes(block[hdrChunkUUID:], o.IDs.ChunkTree[:]) || changed
		}
		return changed
	}
	fixInode := func(inode []byte, patch InodePatch, havePatch bool) bool {
		changed := false
		if o.RootOwners {
			for _, off := range []int{inodeUID, inodeUID + 4} {
				if le32(inode, off) != 0 {
					binary.LittleEndian.PutUint32(inode[off:], 0)
					changed = true
				}
			}
		}
		if o.HaveEpoch {
			for i := 0; i < 4; i++ {
				ts := inode[inodeTimes+12*i:]
				// i: 0 atime, 1 ctime, 2 mtime, 3 otime
				if o.ClampTimes && (i == 0 || i == 2) && int64(le64(ts, 0)) < o.Epoch {
					continue
				}
				changed = setTimespec(ts, o.Epoch) || changed
			}
		}
		if havePatch && patch.SetTimes {
			changed = setTime(inode[inodeTimes:], patch.Atime) || changed
			changed = setTime(inode[inodeTimes+36:], patch.Otime) || changed
		}
		if havePatch && patch.SetMode {
			m := le32(inode, inodeMode)&^0o7777 | patch.Mode&0o7777
			if m != le32(inode, inodeMode) {
				binary.LittleEndian.PutUint32(inode[inodeMode:], m)
				changed = true
			}
		}
		if havePatch && patch.SetOwner && (le32(inode, inodeUID) != patch.UID || le32(inode, inodeUID+4) != patch.GID) {
			binary.LittleEndian.PutUint32(inode[inodeUID:], patch.UID)
			binary.LittleEndian.PutUint32(inode[inodeUID+4:], patch.GID)
			changed = true
		}
		if havePatch && patch.SetMtime {
			changed = setTime(inode[inodeTimes+24:], patch.Mtime) || changed
		}
		if havePatch && patch.SetRdev && le64(inode, inodeRdev) != patch.Rdev {
			binary.LittleEndian.PutUint64(inode[inodeRdev:], patch.Rdev)
			changed = true
		}
		if havePatch && patch.SetFlags && le64(inode, inodeFlags) != patch.Flags {
			binary.LittleEndian.PutUint64(inode[inodeFlags:], patch.Flags)
			changed = true
		}
		return changed
	}
	fn := func(block []byte, it item) bool {
		d := it.data
		switch it.typ {
		case typeInodeItem:
			if len(d) < inodeItemSize {
				return false
			}
			p, ok := byIno[it.objectid]
			return fixInode(d, p, ok && le64(block, 0x58) == fsTreeObjectID)
		case typeRootItem:
			if len(d) < inodeItemSize {
				return false
			}
			changed := fixInode(d[:inodeItemSize], InodePatch{}, false)
			if len(d) >= rootItemFull {
				if o.HaveEpoch {
					for i := 0; i < 4; i++ {
						changed = setTimespec(d[rootItemCtm+12*i:], o.Epoch) || changed
					}
				}
				if it.objectid == fsTreeObjectID && o.IDs.FSTree != zero && !isZero(d[rootItemUUID:rootItemUUID+16]) {
					changed = setBytes(d[rootItemUUID:], o.IDs.FSTree[:]) || changed
				}
			}
			return changed
		case typeDirItem, typeDirIndex, typeXattrItem:
			return fixDirTransids(d, le64(img.sb, 0x48))
		case typeDevItem:
			changed := false
			if len(d) >= devItemFSID+16 && o.IDs.FS != zero {
				changed = setBytes(d[devItemFSID:], o.IDs.FS[:])
			}
			if len(d) >= devItemUUID+16 && o.IDs.Dev != zero {
				changed = setBytes(d[devItemUUID:], o.IDs.Dev[:]) || changed
			}
			return changed
		case typeChunkItem:
			return o.IDs.Dev != zero && setStripeUUIDs(d, o.IDs.Dev)
		case typeDevExtent:
			if len(d) >= devExtUUID+16 && o.IDs.ChunkTree != zero {
				return setBytes(d[devExtUUID:], o.IDs.ChunkTree[:])
			}
		case typeUUIDSubvol:
			if o.IDs.FSTree == zero || len(d) < 8 || le64(d, 0) != fsTreeObjectID {
				return false
			}
			if le32(block, 0x60) != 1 {
				// Rewriting the key could break the leaf's order.
				return false
			}
			var k [16]byte
			copy(k[:], o.IDs.FSTree[:])
			a := setBytes(it.key[0:8], k[0:8])
			b := setBytes(it.key[9:17], k[8:16])
			return a || b
		}
		return false
	}
	img.visited = map[uint64]bool{}
	if err := img.walk(le64(img.sb, 0x50), fn, onBlock); err != nil {
		return fmt.Errorf("fixing btrfs root tree: %w", err)
	}
	if err := img.walk(le64(img.sb, 0x58), fn, onBlock); err != nil {
		return fmt.Errorf("fixing btrfs chunk tree: %w", err)
	}
	for id, r := range roots {
		if err := img.walk(r, fn, onBlock); err != nil {
			return fmt.Errorf("fixing btrfs tree %d: %w", id, err)
		}
	}
	if o.IDs.ChunkTree != zero {
		if err := img.fixStale(roots); err != nil {
			return err
		}
	}
	if o.IDs.FSTree != zero {
		if err := img.checkUUIDTree(roots, o.IDs.FSTree); err != nil {
			return err
		}
	}
	return img.fixSupers(o.IDs)
}

// fixStale zeroes tree blocks no tree refers to any more: mkfs.btrfs
// leaves copied-on-write blocks behind in free metadata space, and their
// random UUIDs and times would make two images differ. A block is
// taken for one only when it lies in a metadata or system chunk, outside
// every data extent, and its header names this filesystem, its own
// address and a valid checksum.
func (img *image) fixStale(roots map[uint64]uint64) error {
	live := img.visited
	type span struct{ start, end uint64 }
	var data []span
	if r, ok := roots[2]; ok {
		img.visited = map[uint64]bool{}
		err := img.walk(r, func(_ []byte, it item) bool {
			if it.typ == 168 && len(it.data) >= 24 && le64(it.data, 16)&1 != 0 { // EXTENT_ITEM, flag DATA
				data = append(data, span{it.objectid, it.objectid + it.offset})
			}
			return false
		}, nil)
		if err != nil {
			return fmt.Errorf("reading btrfs extent tree: %w", err)
		}
	}
	img.visited = live
	inData := func(a uint64) bool {
		for _, d := range data {
			if a+uint64(img.nodesize) > d.start && a < d.end {
				return true
			}
		}
		return false
	}
	sector := uint64(le32(img.sb, 0x90))
	if sector < 4096 || sector > uint64(img.nodesize) {
		sector = uint64(img.nodesize)
	}
	fsid := img.sb[0x20:0x30]
	block := make([]byte, img.nodesize)
	for _, c := range img.chunks {
		if c.flags&6 == 0 {
			continue
		}
		for a := c.logical; a+uint64(img.nodesize) <= c.logical+c.length; a += sector {
			if live[a] || inData(a) {
				continue
			}
			for _, p := range c.physical {
				off := int64(p + a - c.logical)
				if off+int64(img.nodesize) > img.size {
					continue
				}
				if _, err := img.f.ReadAt(block, off); err != nil {
					return fmt.Errorf("reading btrfs metadata at %d: %w", a, err)
				}
				if le64(block, 0x30) != a || string(block[0x20:0x30]) != string(fsid) || crc(block[0x20:]) != le32(block, 0) {
					continue
				}
				clear(block)
				if _, err := img.f.WriteAt(block, off); err != nil {
					return fmt.Errorf("writing btrfs metadata at %d: %w", a, err)
				}
			}
		}
	}
	return nil
}

// checkUUIDTree makes sure the UUID tree names the top subvolume by its
// new UUID (a UUID tree too big for an in-place key rewrite is refused).
func (img *image) checkUUIDTree(roots map[uint64]uint64, u [16]byte) error {
	r, ok := roots[9]
	if !ok {
		return nil
	}
	img.visited = map[uint64]bool{}
	bad := false
	err := img.walk(r, func(_ []byte, it item) bool {
		if it.typ == typeUUIDSubvol {
			var k [16]byte
			binary.LittleEndian.PutUint64(k[:], it.objectid)
			binary.LittleEndian.PutUint64(k[8:], it.offset)
			if k != u {
				bad = true
			}
		}
		return false
	}, nil)
	if err != nil {
		return fmt.Errorf("reading btrfs UUID tree: %w", err)
	}
	if bad {
		return errors.New("btrfs UUID tree holds more than the top subvolume: cannot rewrite its UUID")
	}
	return nil
}

// fixSupers rewrites every superblock copy: the device UUID in its device
// item and in the system chunks' stripes, and its checksum.
func (img *image) fixSupers(ids IDs) error {
	for _, off := range []int64{superOffset, 64 << 20, 256 << 30} {
		if off+superSize > img.size {
			break
		}
		sb := make([]byte, superSize)
		if _, err := img.f.ReadAt(sb, off); err != nil {
			return fmt.Errorf("reading btrfs superblock at %d: %w", off, err)
		}
		if string(sb[0x40:0x48]) != superMagic || int64(le64(sb, 0x30)) != off {
			continue // no copy there
		}
		changed := false
		if ids.FS != ([16]byte{}) {
			a := setBytes(sb[0x20:], ids.FS[:])
			b := setBytes(sb[sbDevItem+devItemFSID:], ids.FS[:])
			changed = a || b
		}
		if ids.Dev != ([16]byte{}) {
			changed = setBytes(sb[sbDevItem+devItemUUID:], ids.Dev[:]) || changed
			n := int(le32(sb, sbSysArrSize))
			if n > superSize-sbSysArr {
				return errors.New("btrfs system chunk array too long")
			}
			arr := sb[sbSysArr : sbSysArr+n]
			for len(arr) >= keySize+chunkItemSize {
				c := arr[keySize:]
				size := chunkItemSize + int(le16(c, 44))*stripeSize
				if len(c) < size {
					return errors.New("btrfs system chunk array truncated")
				}
				changed = setStripeUUIDs(c[:size], ids.Dev) || changed
				arr = arr[keySize+size:]
			}
		}
		if !changed && crc(sb[0x20:]) == le32(sb, 0) {
			continue
		}
		binary.LittleEndian.PutUint32(sb[0:], crc(sb[0x20:]))
		if _, err := img.f.WriteAt(sb, off); err != nil {
			return fmt.Errorf("writing btrfs superblock at %d: %w", off, err)
		}
	}
	return nil
}

// fixDirTransids zeroes the transid of directory and xattr entries that
// claim a transaction after the filesystem's generation: mkfs.btrfs 6.2
// leaves the clock time there for some entries (0, as in its others).
func fixDirTransids(d []byte, generation uint64) bool {
	changed := false
	for len(d) >= xattrHeader {
		if le64(d, 17) > generation {
			binary.LittleEndian.PutUint64(d[17:], 0)
			changed = true
		}
		n := xattrHeader + int(le16(d, 25)) + int(le16(d, 27))
		if n > len(d) {
			break
		}
		d = d[n:]
	}
	return changed
}

// clearFree zeroes the unused middle of a tree block, where mkfs.btrfs
// leaves stale bytes of moved items.
func clearFree(block []byte) bool {
	n := int(le32(block, 0x60))
	var from, to int
	if block[0x64] > 0 {
		from, to = headerSize+n*keyPtrSize, len(block)
	} else {
		from, to = headerSize+n*itemSize, len(block)
		for i := 0; i < n; i++ {
			h := headerSize + i*itemSize
			if h+itemSize > len(block) {
				return false
			}
			if off := headerSize + int(le32(block, h+keySize)); off < to {
				to = off
			}
		}
	}
	if from >= to || to > len(block) || isZero(block[from:to]) {
		return false
	}
	clear(block[from:to])
	return true
}

func setStripeUUIDs(c []byte, dev [16]byte) bool {
	if len(c) < chunkItemSize {
		return false
	}
	changed := false
	stripes := int(le16(c, 44))
	for i := 0; i < stripes; i++ {
		s := chunkItemSize + i*stripeSize
		if s+stripeSize > len(c) {
			break
		}
		changed = setBytes(c[s+stripeUUID:], dev[:]) || changed
	}
	return changed
}

func setBytes(dst, src []byte) bool {
	if string(dst[:len(src)]) == string(src) {
		return false
	}
	copy(dst, src)
	return true
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func setTime(b []byte, t [2]int64) bool {
	if le64(b, 0) == uint64(t[0]) && le32(b, 8) == uint32(t[1]) {
		return false
	}
	binary.LittleEndian.PutUint64(b, uint64(t[0]))
	binary.LittleEndian.PutUint32(b[8:], uint32(t[1]))
	return true
}

func setTimespec(b []byte, epoch int64) bool {
	if le64(b, 0) == uint64(epoch) && le32(b, 8) == 0 {
		return false
	}
	binary.LittleEndian.PutUint64(b, uint64(epoch))
	binary.LittleEndian.PutUint32(b[8:], 0)
	return true
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func le16(b []byte, o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
func le32(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
func le64(b []byte, o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
