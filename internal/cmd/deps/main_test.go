package main

import (
	"slices"
	"testing"
)

// TestMissingPackages: with no tool found, every purpose asks for the
// packages of all its tools, each once, from the one table.
func TestMissingPackages(t *testing.T) {
	none := func(string) bool { return false }
	for purpose, want := range map[string][]string{
		"demo": {"btrfs-progs", "bzip2", "dosfstools", "e2fsprogs", "mtools", "squashfs-tools"},
		"boot": {"btrfs-progs", "busybox-static", "cpio", "dosfstools", "e2fsprogs", "mtools", "qemu-system-x86", "squashfs-tools"},
	} {
		got, err := missingPackages(purpose, none)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range want {
			if !slices.Contains(got, p) {
				t.Errorf("%s: %v lacks %s", purpose, got, p)
			}
		}
	}
	got, err := missingPackages("test", func(tool string) bool { return tool != "sgdisk" && tool != "xz" })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "gdisk") || !slices.Contains(got, "xz-utils") || slices.Contains(got, "e2fsprogs") {
		t.Errorf("test with sgdisk and xz missing: %v", got)
	}
}
