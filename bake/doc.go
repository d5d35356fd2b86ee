// Package bake owns the bake pipeline: take a Flatcar disk image (raw or
// .bin.bz2), copy it sparsely into a temporary file in the output
// directory, check every input before the first write, install sysext
// images into ROOT or OEM with their /etc/extensions symlinks, sysupdate
// configs and masks, and rename the result into place. The input image is
// never modified and nothing half-written is left behind on failure.
//
// A bake is two steps: Preflight makes every check that needs no writing
// (inputs, placement, the vendor plan, overwrites) once and returns a
// Plan; Plan.Build carries it out (Run does both). Options are only what
// the caller sets; what the bake derives lives in the Plan.
//
// It also owns Inspect, which reports what a baked image holds.
//
// Placement follows the sysext-bakery's bake_flatcar_image.sh:
//
//   - root:/DIR/ (default /opt/extensions/): the image goes to DIR/FILE in
//     ROOT and /etc/extensions/NAME.raw links to it;
//   - oem:/DIR/: the image goes to DIR/FILE in OEM and the link points at
//     /oem/DIR/FILE (OEM is mounted at /oem);
//   - with a sysupdate config NAME.conf whose [Target] Path= lies in the
//     install partition, the image goes into that Path so that
//     systemd-sysupdate manages it, and the link is the config's
//     CurrentSymlink= (default /etc/extensions/NAME.raw). The config is
//     installed as /etc/sysupdate.NAME.d/NAME.conf, plus
//     /etc/sysupdate.d/noop.conf so systemd-sysupdate runs cleanly.
//
// plan (plan.go) decides every path before the first write and gives each
// one owner: two inputs claiming a path, a path inside another's file, an
// image in a directory systemd-sysext reads, or a CurrentSymlink= that is
// not NAME.raw in /etc/extensions or /var/lib/extensions are refused.
// install (run.go, replace.go) then reads the image's own /etc/extensions:
// an old sysext or mask under a baked NAME is replaced with all of its
// files (link, image, /etc/sysupdate.NAME.d), and any other path the bake
// would overwrite is refused.
package bake
