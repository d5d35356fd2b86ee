package diskfmt

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"unicode/utf16"
)

// VHDX writes a dynamic VHDX (MS-VHDX): file identifier, two headers, two
// region tables, an empty 1 MiB log (the log GUID is zero, so there is
// nothing to replay), the metadata region (file parameters, virtual disk
// size, virtual disk ID, 512-byte logical and 4096-byte physical sectors),
// the BAT, then one 2 MiB payload block (zero pages left as holes) for
// every block of the disk holding data. Blocks without data are "not
// present" and read as zeros.
type VHDX struct{}

func (VHDX) Name() string        { return "vhdx" }
func (VHDX) Ext() string         { return "vhdx" }
func (VHDX) Description() string { return "VHDX dynamic (2 MiB blocks, for Hyper-V)" }

func (VHDX) VirtualSize(srcSize int64, o Options) (int64, error) { return plainSize(srcSize, o) }

const (
	vhdxBlock        = 2 << 20
	vhdxLogOff       = 1 << 20
	vhdxLogLen       = 1 << 20
	vhdxMetaOff      = 2 << 20
	vhdxMetaLen      = 1 << 20
	vhdxBATOff       = 3 << 20
	vhdxChunkRatio   = (1 << 23) * sectorSize / vhdxBlock
	vhdxFullyPresent = 6
)

var (
	vhdxBATRegion  = msGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxMetaRegion = msGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	vhdxFileParams = msGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxDiskSize   = msGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxPage83     = msGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxLogical    = msGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxPhysical   = msGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
)

// msGUID turns a GUID's text form into its on-disk (mixed-endian) bytes.
func msGUID(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	return guidLE([16]byte(b))
}

func (VHDX) Write(ctx context.Context, src, dst *os.File, o Options) error {
	r, err := start(src, dst, o)
	if err != nil {
		return err
	}
	if r.size > 64<<40 {
		return fmt.Errorf("virtual size %d is beyond the VHDX limit of 64 TiB", r.size)
	}
	le := binary.LittleEndian
	nPayload := (r.size + vhdxBlock - 1) / vhdxBlock
	nEntries := nPayload
	if nPayload > 0 {
		nEntries += (nPayload - 1) / vhdxChunkRatio
	}
	batLen := (nEntries*8 + mib - 1) / mib * mib
	batLen = max(batLen, mib)
	bat := make([]byte, batLen)

	w := newSeqWriter(dst, vhdxBATOff+batLen)
	s := &scan{
		src: src, srcSize: r.srcSize, size: vhdxBlock, workers: r.Workers, reporter: r.Reporter, desc: "writing " + dst.Name(),
		emit: func(idx int64, data, _ []byte) error {
			entry := idx + idx/vhdxChunkRatio
			le.PutUint64(bat[entry*8:], uint64(w.off/mib)<<20|vhdxFullyPresent)
			return w.WriteSparse(data)
		},
	}
	if err := s.run(ctx); err != nil {
		return err
	}
	if err := w.Finish(); err != nil {
		return err
	}

	head := make([]byte, vhdxMetaOff+vhdxMetaLen)
	// File type identifier.
	copy(head[0:], "vhdxfile")
	for i, u := range utf16.Encode([]rune("bake-os")) {
		le.PutUint16(head[8+2*i:], u)
	}
	// Headers 1 and 2.
	fileGUID := guidLE(contentID(s.digest, "vhdx-file-write"))
	dataGUID := guidLE(contentID(s.digest, "vhdx-data-write"))
	for i, off := range []int{64 << 10, 128 << 10} {
		h := head[off : off+4096]
		copy(h[0:], "head")
		le.PutUint64(h[8:], uint64(i+1))
		copy(h[16:], fileGUID[:])
		copy(h[32:], dataGUID[:])
		// LogGuid (48) zero: no log to replay.
		le.PutUint16(h[64:], 0) // log version
		le.PutUint16(h[66:], 1) // version
		le.PutUint32(h[68:], vhdxLogLen)
		le.PutUint64(h[72:], vhdxLogOff)
		le.PutUint32(h[4:], crc32.Checksum(h, crcTable))
	}
	// Region tables 1 and 2.
	for _, off := range []int{192 << 10, 256 << 10} {
		t := head[off : off+64<<10]
		copy(t[0:], "regi")
		le.PutUint32(t[8:], 2)
		e := t[16:]
		copy(e[0:], vhdxBATRegion[:])
		le.PutUint64(e[16:], vhdxBATOff)
		le.PutUint32(e[24:], uint32(batLen))
		le.PutUint32(e[28:], 1) // required
		e = t[48:]
		copy(e[0:], vhdxMetaRegion[:])
		le.PutUint64(e[16:], vhdxMetaOff)
		le.PutUint32(e[24:], vhdxMetaLen)
		le.PutUint32(e[28:], 1)
		le.PutUint32(t[4:], crc32.Checksum(t, crcTable))
	}
	// Metadata table and items.
	m := head[vhdxMetaOff:]
	copy(m[0:], "metadata")
	const (
		isVirtualDisk = 1 << 1
		isRequired    = 1 << 2
	)
	page83 := guidLE(contentID(s.digest, "vhdx-page83"))
	items := []struct {
		id    [16]byte
		flags uint32
		val   []byte
	}{
		{vhdxFileParams, isRequired, le.AppendUint32(le.AppendUint32(nil, vhdxBlock), 0)},
		{vhdxDiskSize, isVirtualDisk | isRequired, le.AppendUint64(nil, uint64(r.size))},
		{vhdxPage83, isVirtualDisk | isRequired, page83[:]},
		{vhdxLogical, isVirtualDisk | isRequired, le.AppendUint32(nil, sectorSize)},
		{vhdxPhysical, isVirtualDisk | isRequired, le.AppendUint32(nil, 4096)},
	}
	le.PutUint16(m[10:], uint16(len(items)))
	valOff := 64 << 10
	for i, it := range items {
		e := m[32+32*i:]
		copy(e[0:], it.id[:])
		le.PutUint32(e[16:], uint32(valOff))
		le.PutUint32(e[20:], uint32(len(it.val)))
		le.PutUint32(e[24:], it.flags)
		copy(m[valOff:], it.val)
		valOff += len(it.val)
	}
	if err := writeNonZero(dst, head, 0); err != nil {
		return err
	}
	return writeNonZero(dst, bat, vhdxBATOff)
}

// writeNonZero writes b at off, skipping its all-zero 64 KiB blocks (the
// file already reads zeros there).
func writeNonZero(f *os.File, b []byte, off int64) error {
	const blk = 64 << 10
	for i := 0; i < len(b); i += blk {
		p := b[i:min(i+blk, len(b))]
		if isZero(p) {
			continue
		}
		if _, err := f.WriteAt(p, off+int64(i)); err != nil {
			return fmt.Errorf("writing %s: %w", f.Name(), err)
		}
	}
	return nil
}
