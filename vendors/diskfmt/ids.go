package diskfmt

import (
	"crypto/sha256"
	"hash"
)

// contentID derives a 16-byte identifier from a content digest and a label,
// so that identifiers are deterministic yet differ between images and
// between the fields of one image. The result has the RFC 4122 version 4
// and variant bits set (in big-endian byte order).
func contentID(digest hash.Hash, label string) [16]byte {
	h := sha256.New()
	h.Write(digest.Sum(nil))
	h.Write([]byte(label))
	var id [16]byte
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// guidLE converts an RFC 4122 (big-endian) UUID to the mixed-endian byte
// order Microsoft formats store GUIDs in.
func guidLE(u [16]byte) [16]byte {
	g := u
	g[0], g[1], g[2], g[3] = u[3], u[2], u[1], u[0]
	g[4], g[5] = u[5], u[4]
	g[6], g[7] = u[7], u[6]
	return g
}
