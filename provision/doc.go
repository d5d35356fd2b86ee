// Package provision owns what a bake configures in an image besides
// sysexts, so that a machine comes up configured: the Ignition config
// Flatcar's initrd reads on first boot, kernel arguments and automatic
// sysext updates.
//
// # Ignition
//
// Flatcar's initrd mounts the partition labelled OEM and, when it holds
// config.ign at its root, hands it to Ignition as the user config
// (docs/provisioning.md). A baked config is checked first with Ignition's
// own config library: JSON errors and validation reports name the line,
// column and field. The spec version must be one the target Flatcar
// release reads: Flatcar from 3185.0.0 runs Ignition 2.x, which reads
// spec 3.x up to the newest its Ignition version marked stable (the table
// in specs.go, derived from the Ignition version each Flatcar major ships).
// Spec 2.x configs (still read by Flatcar through a converter) cannot be
// validated here and are refused with a hint.
//
// Butane configs (.bu, .yaml, .yml) are transpiled by the butane binary
// when it is on PATH, never by a translator of our own.
//
// An image that already holds a config is never overwritten silently: the
// caller refuses, replaces (--force) or merges ([Merge]: a parent config
// whose ignition.config.merge lists both as data URLs, so Ignition itself
// merges them).
//
// # Kernel arguments
//
// Flatcar's GRUB sources OEM /grub.cfg, whose `set linux_append=` lines
// end on the kernel command line. [EditKernelArgs] merges arguments in
// the way Flatcar's own files do (`set linux_append="$linux_append ARG"`,
// on one line bake-os keeps last), removes them from every line, keeps
// every other line and changes nothing when run again; [KernelArgs]
// evaluates the lines for inspect. Vendors apply the same edit to the
// grub.cfg they write.
//
// # Automatic updates
//
// [SysupdateUnits] are the files a bake's --sysupdate writes into ROOT:
// the timer's wants link and the systemd-sysupdate.service drop-ins, with
// the names and contents [Butane] uses.
//
// # Butane for stock images
//
// [Butane] writes the Butane config (variant flatcar) that installs
// sysexts at provisioning time instead of baking them, in the shape the
// sysext bakery documents: downloads into /opt/extensions/NAME/, links in
// /etc/extensions, masks, and automatic updates through
// systemd-sysupdate (the timer, one drop-in per extension and one that
// restarts systemd-sysext). The unit and drop-in names and contents are
// exported so that a bake's --sysupdate writes the same ones.
package provision
