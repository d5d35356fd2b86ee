package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadSourceDateEpoch: cmd is the one reader of SOURCE_DATE_EPOCH; a
// value that is not seconds since 1970 is a usage error naming the
// variable (it used to become 0 for a bake), for a bake and for sysext
// pack alike, before any work.
func TestBadSourceDateEpoch(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree", "usr", "bin")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "hello"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"yesterday", "-1", "99999999999", "1.5"} {
		t.Setenv("SOURCE_DATE_EPOCH", v)
		for _, args := range [][]string{
			{"--image", "x.bin", "a:a.raw"},
			{"sysext", "pack", "--name", "hello", "tree"},
		} {
			stdout, stderr, code := run(t, dir, args...)
			want := `invalid SOURCE_DATE_EPOCH "` + v + `"`
			if code != exitUsage || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
				t.Errorf("SOURCE_DATE_EPOCH=%s %v: exit %d, want %d and one line with %q:\n%s%s", v, args, code, exitUsage, want, stdout, stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "hello.raw")); err == nil {
		t.Error("sysext pack wrote an image despite the bad SOURCE_DATE_EPOCH")
	}
}
