// Package flatcar owns the facts about Flatcar Container Linux that several
// packages share: architecture and board names, release channels, the
// partition labels and type GUIDs of the disk layout, and the disk layouts
// ("base", "vm", "azure", "vagrant") that vendor images grow to.
//
// The numbers come from Flatcar's build tooling (disk_layout.json) and are
// asserted by tests; see gpt/FLATCAR-LAYOUT.md.
package flatcar
