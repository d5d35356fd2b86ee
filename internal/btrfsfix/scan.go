package btrfsfix

import (
	"fmt"
	"sort"
)

// File-extent and inode details Scan reads.
const (
	extentInline   = 0
	extentRegular  = 1
	extentPrealloc = 2

	xattrHeader = 30 // dir item: location key 17, transid 8, data_len 2, name_len 2, type 1
)

// Inode is what Scan found about one inode of the top subvolume.
type Inode struct {
	Ino                 uint64
	Paths               []string // every name (hardlinks), sorted
	Mode                uint32   // st_mode: type and permission bits
	Nlink               uint32
	UID, GID            uint32
	Rdev                uint64
	Flags               uint64
	Size                uint64
	Atime, Mtime, Otime [2]int64 // seconds, nanoseconds
	Xattrs              []string
	// HoleBytes is the part of the file's size left to holes and
	// preallocated space rather than stored data.
	HoleBytes  uint64
	Compressed bool // some extent is compressed
}

// Contents is what a btrfs filesystem holds, as far as a rebuild cares.
type Contents struct {
	FSID [16]byte
	IDs  IDs
	// Subvolumes are the subvolume and snapshot tree ids besides the top
	// one.
	Subvolumes []uint64
	Inodes     []*Inode // sorted by inode number
}

// Scan reads a single-device btrfs image (without changing it).
func Scan(path string) (*Contents, error) {
	img, err := open(path, false)
	if err != nil {
		return nil, err
	}
	defer img.f.Close()
	c := &Contents{}
	copy(c.FSID[:], img.sb[0x20:0x30])
	c.IDs.FS = c.FSID
	copy(c.IDs.Dev[:], img.sb[sbDevItem+devItemUUID:])
	roots, err := img.roots()
	if err != nil {
		return nil, fmt.Errorf("reading btrfs root tree: %w", err)
	}
	block := make([]byte, img.nodesize)
	if phys, err := img.physical(le64(img.sb, 0x50)); err == nil {
		if _, err := img.f.ReadAt(block, phys[0]); err == nil {
			copy(c.IDs.ChunkTree[:], block[hdrChunkUUID:])
		}
	}
	fsRoot, ok := roots[fsTreeObjectID]
	if !ok {
		return nil, fmt.Errorf("btrfs image has no top subvolume")
	}
	for id := range roots {
		if id >= firstFreeObjID && id <= lastFreeObjectID {
			c.Subvolumes = append(c.Subvolumes, id)
		}
	}
	sort.Slice(c.Subvolumes, func(i, j int) bool { return c.Subvolumes[i] < c.Subvolumes[j] })
	img.visited = map[uint64]bool{}
	err = img.walk(le64(img.sb, 0x50), func(_ []byte, it item) bool {
		if it.typ == typeRootItem && it.objectid == fsTreeObjectID && len(it.data) >= rootItemUUID+16 {
			copy(c.IDs.FSTree[:], it.data[rootItemUUID:])
		}
		return false
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading btrfs root tree: %w", err)
	}
	paths, err := img.paths(fsRoot)
	if err != nil {
		return nil, fmt.Errorf("reading btrfs file tree: %w", err)
	}
	inodes := map[uint64]*Inode{}
	get := func(ino uint64) *Inode {
		in := inodes[ino]
		if in == nil {
			in = &Inode{Ino: ino}
			inodes[ino] = in
		}
		return in
	}
	stored := map[uint64]uint64{}
	img.visited = map[uint64]bool{}
	err = img.walk(fsRoot, func(_ []byte, it item) bool {
		d := it.data
		switch it.typ {
		case typeInodeItem:
			if len(d) < inodeItemSize {
				return false
			}
			in := get(it.objectid)
			in.Size = le64(d, 16)
			in.Nlink = le32(d, inodeNlink)
			in.UID, in.GID = le32(d, inodeUID), le32(d, inodeUID+4)
			in.Mode = le32(d, inodeMode)
			in.Rdev = le64(d, inodeRdev)
			in.Flags = le64(d, inodeFlags)
			in.Atime = [2]int64{int64(le64(d, inodeTimes)), int64(le32(d, inodeTimes+8))}
			in.Mtime = [2]int64{int64(le64(d, inodeTimes+24)), int64(le32(d, inodeTimes+32))}
			in.Otime = [2]int64{int64(le64(d, inodeTimes+36)), int64(le32(d, inodeTimes+44))}
		case typeXattrItem:
			for len(d) >= xattrHeader {
				dl, nl := int(le16(d, 25)), int(le16(d, 27))
				if xattrHeader+nl+dl > len(d) {
					break
				}
				in := get(it.objectid)
				in.Xattrs = append(in.Xattrs, string(d[xattrHeader:xattrHeader+nl]))
				d = d[xattrHeader+nl+dl:]
			}
		case typeExtentData:
			if len(d) < 21 {
				return false
			}
			in := get(it.objectid)
			if d[16] != 0 {
				in.Compressed = true
			}
			switch d[20] {
			case extentInline:
				stored[it.objectid] += le64(d, 8)
			case extentRegular:
				if len(d) >= 53 && le64(d, 21) != 0 {
					stored[it.objectid] += le64(d, 45)
				}
			}
		}
		return false
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading btrfs file tree: %w", err)
	}
	for ino, in := range inodes {
		in.Paths = append([]string(nil), paths[ino]...)
		sort.Strings(in.Paths)
		sort.Strings(in.Xattrs)
		if in.Mode&0o170000 == 0o100000 && stored[ino] < in.Size {
			in.HoleBytes = in.Size - stored[ino]
		}
		c.Inodes = append(c.Inodes, in)
	}
	sort.Slice(c.Inodes, func(i, j int) bool { return c.Inodes[i].Ino < c.Inodes[j].Ino })
	return c, nil
}
