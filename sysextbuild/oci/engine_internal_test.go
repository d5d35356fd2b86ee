package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// engineStandIns puts container engine stand-ins on a PATH of their own
// (name -> shell script) and returns the directory.
func engineStandIns(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, s := range scripts {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"+s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	return dir
}

// A daemon that is down: `info` prints the client part, then the error.
const engineDown = "echo 'Client: 1.0'; echo 'Cannot connect to the daemon. Is it running?' >&2; exit 1\n"

// A working engine answers `info` only.
const engineUp = "[ \"$1\" = info ] && exit 0; exit 1\n"

func TestFindEngine(t *testing.T) {
	dir := engineStandIns(t, map[string]string{"down": engineDown, "up": engineUp, "up2": engineUp})
	type miss struct {
		name      string
		installed bool
		output    string
	}
	var got []miss
	record := func(n string, installed bool, out string) string {
		got = append(got, miss{n, installed, out})
		if n == "absent" {
			return "" // left out of tried
		}
		return n
	}
	p, tried := FindEngine(context.Background(), []string{"absent", "down", "up", "up2"}, record)
	if p != filepath.Join(dir, "up") || tried != nil {
		t.Errorf("found %q, tried %q; want %s/up", p, tried, dir)
	}
	want := []miss{{"absent", false, ""}, {"down", true, "Client: 1.0\nCannot connect to the daemon. Is it running?\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("misses %+v, want %+v", got, want)
	}
	got = nil
	p, tried = FindEngine(context.Background(), []string{"down", "absent", "gone"}, record)
	if p != "" || !reflect.DeepEqual(tried, []string{"down", "gone"}) {
		t.Errorf("found %q, tried %q; want none, tried [down gone]", p, tried)
	}
}

// TestOCIEngine: podman before docker; the refusal names an installed
// engine whose info failed, with the last line it printed.
func TestOCIEngine(t *testing.T) {
	dir := engineStandIns(t, map[string]string{"podman": engineDown, "docker": engineUp})
	if p, err := ociEngine(context.Background(), nil); err != nil || p != filepath.Join(dir, "docker") {
		t.Errorf("engine %q %v, want docker after a broken podman", p, err)
	}
	engineStandIns(t, map[string]string{"podman": engineUp, "docker": engineUp})
	if p, err := ociEngine(context.Background(), nil); err != nil || filepath.Base(p) != "podman" {
		t.Errorf("engine %q %v, want podman first", p, err)
	}
	engineStandIns(t, map[string]string{"podman": engineDown})
	_, err := ociEngine(context.Background(), nil)
	want := ErrCmdNeedsEngine.Error() + "; podman info failed (is its daemon running?): Cannot connect to the daemon. Is it running?"
	if !errors.Is(err, ErrCmdNeedsEngine) || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	engineStandIns(t, nil)
	if _, err := ociEngine(context.Background(), nil); err != ErrCmdNeedsEngine {
		t.Errorf("error %v, want ErrCmdNeedsEngine alone", err)
	}
	// The caller's order wins (a recipe's Engines: docker first).
	engineStandIns(t, map[string]string{"podman": engineUp, "docker": engineUp})
	if p, err := ociEngine(context.Background(), []string{"docker", "podman"}); err != nil || filepath.Base(p) != "docker" {
		t.Errorf("engine %q %v, want docker as the caller asked", p, err)
	}
}
