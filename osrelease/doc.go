// Package osrelease owns the os-release file format (os-release(5)) as used
// by /etc/os-release, /usr/lib/os-release, extension-release files of
// systemd-sysext images, Flatcar's version.txt and /oem-release.
//
// The format is a list of KEY=VALUE lines. Values may be unquoted, or
// wrapped in single or double quotes; inside double quotes and in unquoted
// values a backslash escapes the next character ($, ", \, `); inside single
// quotes nothing is escaped. Lines starting with '#' and blank lines are
// ignored. Splitting on the first '=' alone is not enough: quotes and
// escapes must be undone, which is what Parse does.
package osrelease
