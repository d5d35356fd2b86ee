package partitions

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FATEntry is one directory entry of a FAT32 filesystem, by its 8.3 short
// name (upper case, "NAME.EXT").
type FATEntry struct {
	Name    string
	Dir     bool
	Cluster uint32 // first cluster
}

// maxFATDir bounds the bytes of one directory FATDir reads: the ESP's
// directories hold a handful of entries.
const maxFATDir = 1 << 20

// FATDir lists the directory at path (components matched case
// insensitively against short names) of the FAT32 filesystem at
// [offset, offset+length) of r. It reads only the boot sector, the FAT
// entries of the directories' cluster chains and those clusters, each
// bounded by the filesystem's own geometry and maxFATDir, so a hostile
// filesystem (lying sizes, cyclic chains) ends in an error, never in a
// large allocation or an endless walk. A missing component returns nil
// and no error.
//
// It exists beside the go-diskfs reader (VFAT) for reads of untrusted
// images where only names matter.
func FATDir(r io.ReaderAt, offset, length int64, path ...string) ([]FATEntry, error) {
	fs, err := readFATGeometry(r, offset, length)
	if err != nil {
		return nil, err
	}
	cluster := fs.root
	for _, name := range path {
		list, err := fs.dir(cluster)
		if err != nil {
			return nil, err
		}
		cluster = 0
		for _, e := range list {
			if e.Dir && strings.EqualFold(e.Name, name) {
				cluster = e.Cluster
				break
			}
		}
		if cluster == 0 {
			return nil, nil
		}
	}
	return fs.dir(cluster)
}

type fatGeometry struct {
	r                io.ReaderAt
	offset           int64
	fatStart         int64 // byte offset of FAT 1 in the filesystem
	dataStart        int64 // byte offset of cluster 2
	clusterBytes     int64
	maxCluster, root uint32
}

func readFATGeometry(r io.ReaderAt, offset, length int64) (*fatGeometry, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, offset); err != nil {
		return nil, fmt.Errorf("reading FAT boot sector: %w", err)
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		return nil, errors.New("corrupt FAT filesystem: no boot sector signature")
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	spc := int64(b[13])
	reserved := int64(binary.LittleEndian.Uint16(b[14:]))
	fats := int64(b[16])
	spf := int64(binary.LittleEndian.Uint32(b[36:]))
	root := binary.LittleEndian.Uint32(b[44:])
	switch {
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return nil, fmt.Errorf("corrupt FAT filesystem: %d bytes per sector", bps)
	case spc == 0 || spc&(spc-1) != 0:
		return nil, fmt.Errorf("corrupt FAT filesystem: %d sectors per cluster", spc)
	case reserved == 0 || fats == 0 || spf == 0 || binary.LittleEndian.Uint16(b[22:]) != 0:
		return nil, errors.New("corrupt FAT filesystem: not FAT32 (reserved sectors, FAT count or FAT size)")
	}
	g := &fatGeometry{r: r, offset: offset, fatStart: reserved * bps, clusterBytes: spc * bps, root: root}
	g.dataStart = g.fatStart + fats*spf*bps
	if g.dataStart >= length {
		return nil, errors.New("corrupt FAT filesystem: its FATs do not fit in the partition")
	}
	clusters := (length - g.dataStart) / g.clusterBytes
	if fatEntries := spf * bps / 4; clusters+2 > fatEntries {
		clusters = fatEntries - 2
	}
	if clusters < 1 {
		return nil, errors.New("corrupt FAT filesystem: no data clusters")
	}
	g.maxCluster = uint32(min(clusters+1, 0x0ffffff6))
	if root < 2 || root > g.maxCluster {
		return nil, fmt.Errorf("corrupt FAT filesystem: root directory at cluster %d", root)
	}
	return g, nil
}

// next returns the FAT entry of cluster c.
func (g *fatGeometry) next(c uint32) (uint32, error) {
	var b [4]byte
	if _, err := g.r.ReadAt(b[:], g.offset+g.fatStart+int64(c)*4); err != nil {
		return 0, fmt.Errorf("reading FAT: %w", err)
	}
	return binary.LittleEndian.Uint32(b[:]) & 0x0fffffff, nil
}

// dir reads the directory whose chain starts at cluster c.
func (g *fatGeometry) dir(c uint32) ([]FATEntry, error) {
	var out []FATEntry
	buf := make([]byte, g.clusterBytes)
	for read := int64(0); ; read += g.clusterBytes {
		if c < 2 || c > g.maxCluster {
			return nil, fmt.Errorf("corrupt FAT filesystem: directory cluster %d outside 2-%d", c, g.maxCluster)
		}
		if read >= maxFATDir {
			return nil, errors.New("corrupt FAT filesystem: directory over 1 MiB or its cluster chain loops")
		}
		if _, err := g.r.ReadAt(buf, g.offset+g.dataStart+int64(c-2)*g.clusterBytes); err != nil {
			return nil, fmt.Errorf("reading FAT directory: %w", err)
		}
		for i := 0; i+32 <= len(buf); i += 32 {
			e := buf[i : i+32]
			switch {
			case e[0] == 0:
				return out, nil
			case e[0] == 0xe5 || e[11]&0x0f == 0x0f || e[11]&0x08 != 0:
				continue // deleted, long-name part or volume label
			}
			name := strings.TrimRight(string(e[0:8]), " ")
			if e[0] == 0x05 {
				name = "\xe5" + name[1:]
			}
			if ext := strings.TrimRight(string(e[8:11]), " "); ext != "" {
				name += "." + ext
			}
			if name == "." || name == ".." {
				continue
			}
			cl := uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:]))
			out = append(out, FATEntry{Name: name, Dir: e[11]&0x10 != 0, Cluster: cl})
		}
		n, err := g.next(c)
		if err != nil {
			return nil, err
		}
		if n >= 0x0ffffff8 {
			return out, nil
		}
		c = n
	}
}
