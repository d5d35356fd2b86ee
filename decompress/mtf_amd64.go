package decompress

import "golang.org/x/sys/cpu"

// haveAVX2 selects farAVX2 for the move-to-front's long moves.
var haveAVX2 = cpu.X86.HasAVX2

// farAVX2 is mtfList.far in 32-byte moves (mtf_amd64.s).
//
//go:noescape
func farAVX2(buf *[mtfFront + 256]byte, idx uint) byte
