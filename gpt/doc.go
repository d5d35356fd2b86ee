// Package gpt owns table-level work on a Flatcar disk image: reading and
// validating both GPT headers and their entry arrays (signatures, CRCs,
// backup location), finding Flatcar's partitions by label and type GUID,
// and growing the disk and its ROOT entry to a vendor layout.
//
// The table is read and validated here, from the raw bytes: every header
// field that sizes a read is bounded before it is used, and a table that
// breaks a rule (see Read) is refused with that rule. Validate runs the
// same checks on an output before it is renamed into place. Writing the
// grown table is done with go-diskfs's partition/gpt, which only ever
// sees a table Read accepted; every entry (type GUID, unique GUID, name,
// LBAs, attribute bits), the disk GUID and the MBR boot code (bytes
// 0-439) stay unchanged across writes.
// Filesystem contents inside partitions belong to package partitions.
//
// FLATCAR-LAYOUT.md beside this file describes the on-disk layout.
package gpt
