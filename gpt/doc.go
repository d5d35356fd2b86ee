// Package gpt owns table-level work on a Flatcar disk image: reading and
// validating both GPT headers and their entry arrays (signatures, CRCs,
// backup location), finding Flatcar's partitions by label and type GUID,
// and growing the disk and its ROOT entry to a vendor layout.
//
// Reading and writing the table itself is done with go-diskfs's
// partition/gpt; this package adds the strict checks a baker needs (both
// copies valid and in agreement, the file not truncated) and keeps every
// entry (type GUID, unique GUID, name, LBAs, attribute bits), the disk GUID
// and the MBR boot code (bytes 0-439) unchanged across writes.
// Filesystem contents inside partitions belong to package partitions.
//
// FLATCAR-LAYOUT.md beside this file describes the on-disk layout.
package gpt
