package gpt

import (
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend"
	dgpt "github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sparse"
)

// Grow extends the disk image f to diskSectors and entry rootNumber to
// rootSectors, moving the backup GPT to the new end. Every other entry, the
// disk GUID and MBR bytes 0-439 stay as they are; the file is extended
// sparsely (no zeros written).
//
// Callers work on a temporary copy, so an interruption never leaves a
// half-grown output: the file is extended first, then go-diskfs writes
// backup array, backup header, primary array and primary header in that
// order, none of them synced (go-diskfs syncs after each write; that
// fsync writes out every page a decompressor left dirty in the copy,
// 0.4 s for a fresh Flatcar image).
func Grow(f *os.File, diskSectors uint64, rootNumber int, rootSectors uint64) error {
	d, err := Read(f)
	if err != nil {
		return err
	}
	const sector = flatcar.SectorSize
	newSize := int64(diskSectors) * sector
	if newSize < d.Size {
		return fmt.Errorf("growing %s: new size %d is smaller than %d", f.Name(), newSize, d.Size)
	}
	// The table is validated: go-diskfs reads only what Read checked, and
	// must see the same entries (it knows only 92-byte headers and
	// 128-byte entries, and would otherwise fall back to the backup).
	t, err := dgpt.Read(f, sector, sector)
	if err != nil {
		return fmt.Errorf("growing %s: reading GPT: %w", f.Name(), err)
	}
	if t.RecoveredFromBackup || len(t.Partitions) != len(d.Partitions) {
		return fmt.Errorf("growing %s: GPT reads differently with go-diskfs", f.Name())
	}
	var root *dgpt.Partition
	for i, p := range t.Partitions {
		if q := d.Partitions[i]; p.Index != q.Number || p.Start != q.FirstLBA || p.End != q.LastLBA {
			return fmt.Errorf("growing %s: GPT reads differently with go-diskfs", f.Name())
		}
		if p.Index == rootNumber {
			root = p
		}
	}
	if root == nil {
		return fmt.Errorf("growing %s: partition %d: %w", f.Name(), rootNumber, ErrNoSuchPartition)
	}
	newEnd := root.Start + rootSectors - 1
	if newEnd < root.End {
		return fmt.Errorf("growing %s: partition %d would shrink", f.Name(), rootNumber)
	}
	for _, q := range d.Partitions {
		if q.Number != rootNumber && q.FirstLBA > root.End && q.FirstLBA <= newEnd {
			return fmt.Errorf("growing %s: partition %d would overlap partition %s", f.Name(), rootNumber, q.name())
		}
	}
	if err := f.Truncate(newSize); err != nil {
		return fmt.Errorf("extending %s: %w", f.Name(), err)
	}
	t.Resize(uint64(newSize))
	if newEnd > t.LastDataSector() {
		return fmt.Errorf("growing %s: partition %d end %d beyond last usable LBA %d", f.Name(), rootNumber, newEnd, t.LastDataSector())
	}
	root.End = newEnd
	root.Size = (root.End - root.Start + 1) * sector
	if err := t.Write(unsynced{f}, newSize); err != nil {
		return fmt.Errorf("writing GPT of %s: %w", f.Name(), err)
	}
	// The old backup array and header now lie inside ROOT: drop them so no
	// stale GPT copy is left behind in the partition.
	oldBackup := d.Size - 33*sector
	if err := punch(f, oldBackup, 33*sector); err != nil {
		return fmt.Errorf("writing GPT of %s: %w", f.Name(), err)
	}
	if _, err := Read(f); err != nil {
		return fmt.Errorf("re-reading grown GPT: %w", err)
	}
	return nil
}

func punch(f *os.File, off, n int64) error {
	return sparse.PunchHole(f, off, n)
}

// unsynced is a file without the Sync method go-diskfs looks for.
type unsynced struct{ backend.WritableFile }
