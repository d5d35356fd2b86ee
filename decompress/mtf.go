package decompress

import "encoding/binary"

// mtfList is the move-to-front list of the symbol decoder: entry i is
// buf[mtfFront+i]. Moving entry i to the front shifts entries 0..i-1 up
// by one. Go's copy branches on the length; on already compressed data,
// where i is spread over 0..255, those branches mispredict all the time.
// So an index of 16 or more always moves 255 bytes, the ones ending at
// entry i-1, reaching down into the slack below the list: one length, no
// misprediction. Measured on a block of gzip data (BenchmarkStages),
// symbol decoding took 7.9 ms instead of 10.7 ms. A libbzip2-style list
// (16 rows of 16 at moving offsets, O(i/16+16) byte moves) took 17 ms:
// its loop exits mispredict and its byte stores stall the wider loads
// that follow. On amd64 with AVX2 the decoder does the 256-byte move in
// eight 32-byte moves instead (farAVX2, mtf_amd64.s): blocks of gzip data
// decoded 10% faster (BenchmarkStages), a whole bake 6%.
type mtfList struct {
	buf [mtfFront + 256]byte // buf[:mtfFront] is slack
}

const mtfFront = 256

// init sets the list to syms followed by zeros (up to 256 entries).
func (m *mtfList) init(syms []byte) {
	clear(m.buf[mtfFront:])
	copy(m.buf[mtfFront:], syms)
}

// first returns entry 0.
func (m *mtfList) first() byte { return m.buf[mtfFront] }

// front returns entry idx (0..255) and moves it to the front. (huffLoop
// has it written out: the compiler inlines the parts, not the whole.)
func (m *mtfList) front(idx uint) byte {
	if idx < 8 {
		return m.near8(idx)
	}
	if idx < 16 {
		return m.near16(idx)
	}
	return m.far(idx)
}

// near8 is front for idx < 8: one 64-bit word, no loop.
func (m *mtfList) near8(idx uint) byte {
	w := binary.LittleEndian.Uint64(m.buf[mtfFront:])
	b := byte(w >> (8 * idx))
	k := uint64(1)<<(8*idx) - 1
	binary.LittleEndian.PutUint64(m.buf[mtfFront:], w&^(k<<8|0xff)|(w&k)<<8|uint64(b))
	return b
}

// near16 is front for 8 <= idx < 16: two 64-bit words, no loop.
func (m *mtfList) near16(idx uint) byte {
	w0 := binary.LittleEndian.Uint64(m.buf[mtfFront:])
	w1 := binary.LittleEndian.Uint64(m.buf[mtfFront+8:])
	b := byte(w1 >> (8*idx - 64))
	k := uint64(1)<<(8*idx-64) - 1
	binary.LittleEndian.PutUint64(m.buf[mtfFront+8:], w1&^(k<<8|0xff)|(w1&k)<<8|w0>>56)
	binary.LittleEndian.PutUint64(m.buf[mtfFront:], w0<<8|uint64(b))
	return b
}

// far is front for any idx (0..255), moving 256 bytes whatever idx is.
func (m *mtfList) far(idx uint) byte {
	idx &= 255
	b := m.buf[mtfFront+idx]
	s := (*[256]byte)(m.buf[idx+mtfFront-255:])
	copy(s[1:], s[:255])
	m.buf[mtfFront] = b
	return b
}
