package sysextbuild

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// writeExt packs a staging copy with mke2fs -d (ext4 without a journal,
// or ext2), with a fixed UUID and directory hash seed, then uses debugfs
// to make every inode root-owned with all four timestamps at the epoch
// (mke2fs -d copies owners and ctime from the staging copy), and finally
// sets the superblock times to the epoch (e2fsprogs treats a fake time of
// 0 as "now"), recomputing the superblock checksums.
func writeExt(ctx context.Context, j *packJob) error {
	st, err := stageTree(ctx, j, filepath.Join(j.scratch, "tree"))
	if err != nil {
		return err
	}
	size := j.extSize
	if size == 0 {
		size = extSize(st)
	}
	f, err := os.OpenFile(j.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("sizing image: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating image: %w", err)
	}
	env := []string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(j.epoch, 10), "MKE2FS_CONFIG=/dev/null"}
	if j.epoch == 0 {
		// e2fsprogs ignores a fake time of 0; the times it writes are
		// fixed below instead.
		env = env[1:]
	}
	args := []string{"-q", "-F", "-t", string(j.format), "-b", "4096", "-I", "256", "-m", "0",
		"-N", strconv.FormatInt(st.inodes+32, 10),
		"-U", j.uuid, "-E", "hash_seed=" + j.uuid + ",root_owner=0:0,lazy_itable_init=0",
	}
	// Features are explicit (MKE2FS_CONFIG=/dev/null) so that the host's
	// mke2fs.conf does not change the image. Read-only images need no
	// journal and no room to grow.
	if j.format == FormatExt4 {
		args = append(args, "-O", "^has_journal,^resize_inode,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize")
	} else {
		args = append(args, "-O", "^resize_inode")
	}
	args = append(args, "-d", st.root, j.out)
	if _, _, err := runTool(ctx, env, nil, "mke2fs", args...); err != nil {
		if j.extSize != 0 {
			return fmt.Errorf("%w (is --ext-fs-size %d large enough?)", err, j.extSize)
		}
		return err
	}
	if err := extFixInodes(ctx, j, env); err != nil {
		return err
	}
	return extFixSuperTimes(j.out, j.epoch)
}

// extSize estimates a filesystem size that holds the staged tree: data
// blocks plus a tenth, the inode table, and 4 MiB for the fixed metadata,
// rounded up to a MiB.
func extSize(st *stagedTree) int64 {
	const mib = 1 << 20
	data := st.blocks*4096 + st.dirBytes
	size := data + data/10 + (st.inodes+32)*256 + 4*mib
	return (size + mib - 1) / mib * mib
}

// extFixInodes sets owner 0:0 and atime, mtime, ctime and crtime to the
// epoch on every inode in use (the root, lost+found and everything
// mke2fs -d created) with one debugfs batch. Inodes are addressed by
// number, found in the inode bitmaps that dumpe2fs prints, because path
// lookups in large directories are slow.
func extFixInodes(ctx context.Context, j *packJob, env []string) error {
	out, _, err := runTool(ctx, env, nil, "dumpe2fs", j.out)
	if err != nil {
		return err
	}
	inodes, err := extUsedInodes(string(out))
	if err != nil {
		return fmt.Errorf("reading inode bitmaps: %w", err)
	}
	var b strings.Builder
	at := "@" + strconv.FormatInt(j.epoch, 10)
	for _, ino := range inodes {
		for _, field := range []string{"uid 0", "gid 0", "atime " + at, "mtime " + at, "ctime " + at, "crtime " + at} {
			fmt.Fprintf(&b, "sif <%d> %s\n", ino, field)
		}
	}
	cmds := filepath.Join(j.scratch, "debugfs.cmds")
	if err := os.WriteFile(cmds, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing debugfs commands: %w", err)
	}
	_, stderr, err := runTool(ctx, env, nil, "debugfs", "-w", "-f", cmds, j.out)
	if err != nil {
		return err
	}
	// debugfs exits 0 even when a command fails; it reports on stderr.
	for _, line := range strings.Split(string(stderr), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "debugfs ") {
			return fmt.Errorf("fixing inode owners and times with debugfs: %s", line)
		}
	}
	return nil
}

var extGroupLine = regexp.MustCompile(`^Group [0-9]+: `)

// extUsedInodes lists the inodes in use from dumpe2fs output: the root
// (2) and every inode from the first non-reserved one on that no group's
// "Free inodes:" ranges list.
func extUsedInodes(dump string) ([]uint64, error) {
	var perGroup, firstIno uint64
	var groups [][]string // free ranges per group
	for _, line := range strings.Split(dump, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Inodes per group:"):
			perGroup, _ = strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(t, "Inodes per group:")), 10, 64)
		case strings.HasPrefix(t, "First inode:"):
			firstIno, _ = strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(t, "First inode:")), 10, 64)
		case extGroupLine.MatchString(t):
			groups = append(groups, nil)
		case strings.HasPrefix(t, "Free inodes:") && line != t && len(groups) > 0:
			// Per-group lines are indented; the header line is not.
			rs := strings.TrimSpace(strings.TrimPrefix(t, "Free inodes:"))
			if rs != "" {
				groups[len(groups)-1] = strings.Split(rs, ", ")
			}
		}
	}
	if perGroup == 0 || firstIno == 0 || len(groups) == 0 {
		return nil, fmt.Errorf("unexpected dumpe2fs output")
	}
	free := map[uint64]bool{}
	for _, rs := range groups {
		for _, r := range rs {
			lo, hi, isRange := strings.Cut(r, "-")
			a, err := strconv.ParseUint(lo, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parsing free inode range %q: %w", r, err)
			}
			z := a
			if isRange {
				if z, err = strconv.ParseUint(hi, 10, 64); err != nil {
					return nil, fmt.Errorf("parsing free inode range %q: %w", r, err)
				}
			}
			for i := a; i <= z; i++ {
				free[i] = true
			}
		}
	}
	used := []uint64{2}
	for i := firstIno; i <= perGroup*uint64(len(groups)); i++ {
		if !free[i] {
			used = append(used, i)
		}
	}
	return used, nil
}

// Superblock field offsets (ext4 on-disk layout).
const (
	extSBSize          = 1024
	extSBBlocksCount   = 0x04
	extSBFirstData     = 0x14
	extSBLogBlockSize  = 0x18
	extSBBlocksPerGrp  = 0x20
	extSBMtime         = 0x2C
	extSBWtime         = 0x30
	extSBMagic         = 0x38
	extSBLastcheck     = 0x40
	extSBFeatureCompat = 0x5C
	extSBFeatureRO     = 0x64
	extSBMkfsTime      = 0x108
	extSBWtimeHi       = 0x274 // then mtime_hi, mkfs_time_hi, lastcheck_hi
	extSBChecksum      = 0x3FC

	extROCompatSparseSuper = 0x1
	extROCompatMetaCsum    = 0x400
)

// extFixSuperTimes sets the write, mount, mkfs and last-check times of
// the primary and every backup superblock to epoch and recomputes their
// checksums (metadata_csum). Backups live in groups 0, 1 and powers of
// 3, 5 and 7 (sparse_super), or in every group without it.
func extFixSuperTimes(path string, epoch int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening image: %w", err)
	}
	defer f.Close()
	sb := make([]byte, extSBSize)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return fmt.Errorf("reading superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(sb[extSBMagic:]) != 0xEF53 {
		return fmt.Errorf("reading superblock: bad ext magic")
	}
	blockSize := int64(1024) << binary.LittleEndian.Uint32(sb[extSBLogBlockSize:])
	blocks := int64(binary.LittleEndian.Uint32(sb[extSBBlocksCount:]))
	perGroup := int64(binary.LittleEndian.Uint32(sb[extSBBlocksPerGrp:]))
	first := int64(binary.LittleEndian.Uint32(sb[extSBFirstData:]))
	sparse := binary.LittleEndian.Uint32(sb[extSBFeatureRO:])&extROCompatSparseSuper != 0
	groups := (blocks - first + perGroup - 1) / perGroup
	for g := int64(0); g < groups; g++ {
		if g > 1 && sparse && !(isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7)) {
			continue
		}
		off := int64(1024)
		if g > 0 {
			off = (first + g*perGroup) * blockSize
		}
		if err := extPatchSuper(f, off, epoch); err != nil {
			return fmt.Errorf("fixing superblock times of group %d: %w", g, err)
		}
	}
	return nil
}

func extPatchSuper(f *os.File, off, epoch int64) error {
	sb := make([]byte, extSBSize)
	if _, err := f.ReadAt(sb, off); err != nil {
		return err
	}
	if binary.LittleEndian.Uint16(sb[extSBMagic:]) != 0xEF53 {
		return fmt.Errorf("no superblock at byte %d", off)
	}
	lo, hi := uint32(epoch), byte(epoch>>32)
	for _, o := range []int{extSBWtime, extSBLastcheck, extSBMkfsTime} {
		binary.LittleEndian.PutUint32(sb[o:], lo)
	}
	sb[extSBWtimeHi], sb[extSBWtimeHi+2], sb[extSBWtimeHi+3] = hi, hi, hi
	// Never mounted: mount time stays 0.
	binary.LittleEndian.PutUint32(sb[extSBMtime:], 0)
	sb[extSBWtimeHi+1] = 0
	if binary.LittleEndian.Uint32(sb[extSBFeatureRO:])&extROCompatMetaCsum != 0 {
		sum := ^crc32.Checksum(sb[:extSBChecksum], crc32.MakeTable(crc32.Castagnoli))
		binary.LittleEndian.PutUint32(sb[extSBChecksum:], sum)
	}
	_, err := f.WriteAt(sb, off)
	return err
}

func isPowerOf(n, base int64) bool {
	for n > 1 && n%base == 0 {
		n /= base
	}
	return n == 1
}
