#include "textflag.h"

// func farAVX2(buf *[mtfFront + 256]byte, idx uint) byte
//
// mtfList.far with 32-byte moves: entry idx (at buf[256+idx]) is taken,
// the 256 bytes buf[idx:idx+256] (entries 0..idx-1 and slack below them)
// move up by one, and the entry is put at the front (buf[256]).
TEXT ·farAVX2(SB), NOSPLIT, $0-17
	MOVQ buf+0(FP), DI
	MOVQ idx+8(FP), CX
	ANDQ $255, CX
	LEAQ (DI)(CX*1), SI
	MOVBLZX 256(SI), AX
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VMOVDQU 128(SI), Y4
	VMOVDQU 160(SI), Y5
	VMOVDQU 192(SI), Y6
	VMOVDQU 224(SI), Y7
	VMOVDQU Y0, 1(SI)
	VMOVDQU Y1, 33(SI)
	VMOVDQU Y2, 65(SI)
	VMOVDQU Y3, 97(SI)
	VMOVDQU Y4, 129(SI)
	VMOVDQU Y5, 161(SI)
	VMOVDQU Y6, 193(SI)
	VMOVDQU Y7, 225(SI)
	VZEROUPPER
	MOVB AX, 256(DI)
	MOVB AX, ret+16(FP)
	RET
