//go:build !amd64

package decompress

const haveAVX2 = false

func farAVX2(buf *[mtfFront + 256]byte, idx uint) byte { panic("no AVX2 move-to-front here") }
