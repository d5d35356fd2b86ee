package decompress

import "errors"

const (
	maxCodeLen  = 20 // longest code a bzip2 decoder must accept
	lutBits     = 12 // bits resolved by one table lookup
	maxAlphabet = 258
)

var errBadHuffman = errors.New("invalid Huffman code lengths")

// huffTable decodes one of a block's coding tables. Codes of up to lutBits
// bits resolve with one lookup in lut (entry: symbol<<5 | length); longer
// ones fall back to canonical decoding with first/count/base.
type huffTable struct {
	lut    [1 << lutBits]uint16
	first  [maxCodeLen + 1]uint32 // first canonical code of each length
	count  [maxCodeLen + 1]uint32 // number of codes of each length
	base   [maxCodeLen + 1]uint16 // index in perm of the first code of each length
	maxLen uint
	perm   [maxAlphabet]uint16 // symbols sorted by (length, symbol)
}

// build sets up the table from the code lengths (1..20) of the symbols
// 0..len(lens)-1, assigned canonically as bzip2 does.
func (h *huffTable) build(lens []uint8) error {
	var count [maxCodeLen + 2]uint32
	maxLen := uint(0)
	for _, l := range lens {
		count[l]++
		if uint(l) > maxLen {
			maxLen = uint(l)
		}
	}
	// Kraft: refuse an oversubscribed code.
	var kraft uint64
	for l := 1; l <= maxCodeLen; l++ {
		kraft += uint64(count[l]) << (maxCodeLen - l)
	}
	if kraft > 1<<maxCodeLen {
		return errBadHuffman
	}
	h.maxLen = maxLen
	code := uint32(0)
	idx := uint16(0)
	for l := 1; l <= maxCodeLen; l++ {
		h.first[l] = code
		h.count[l] = count[l]
		h.base[l] = idx
		idx += uint16(count[l])
		code = (code + count[l]) << 1
	}
	clear(h.lut[:])
	var next [maxCodeLen + 1]uint16
	copy(next[:], h.base[:])
	for sym, l := range lens {
		i := next[l]
		next[l]++
		h.perm[i] = uint16(sym)
		if uint(l) <= lutBits {
			c := h.first[l] + uint32(i-h.base[l])
			shift := lutBits - uint(l)
			e := uint16(sym)<<5 | uint16(l)
			lo := c << shift
			hi := (c + 1) << shift
			for j := lo; j < hi; j++ {
				h.lut[j] = e
			}
		}
	}
	return nil
}

// slow decodes a code longer than lutBits from the left-aligned bits.
// It returns the symbol and the code length, or length 0 for an invalid
// code.
func (h *huffTable) slow(bits uint64) (sym uint16, n uint) {
	for l := uint(lutBits + 1); l <= h.maxLen; l++ {
		c := uint32(bits >> (64 - l))
		if d := c - h.first[l]; d < h.count[l] {
			return h.perm[uint32(h.base[l])+d], l
		}
	}
	return 0, 0
}
