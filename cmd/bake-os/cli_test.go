package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestUsageExitStatus: every usage error exits 2 with one line, including
// cobra's argument-count errors and --mask clashes.
func TestUsageExitStatus(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect"}, "inspect: accepts 1 arg(s), received 0 (usage: bake-os inspect IMAGE"},
		{[]string{"inspect", "a", "b"}, "received 2"},
		{[]string{"sysext", "pack", "a", "b"}, "sysext pack: accepts 1 arg(s), received 2"},
		{[]string{"sysext", "create", "docker"}, "sysext create: accepts 2 arg(s)"},
		{[]string{"sysext", "list", "a", "b"}, "sysext list: accepts at most 1 arg(s)"},
		{[]string{"sysext", "release", "x"}, "sysext release: unknown command \"x\""},
		{[]string{"demo", "x"}, "demo: unknown command \"x\""},
		{[]string{"version", "x"}, "version: unknown command \"x\""},
		{[]string{"sysext", "pack", "--no-such-flag", "d"}, "unknown flag: --no-such-flag"},
		{[]string{"--image", "x.bin", "--mask", "a", "a:a.raw"}, `--mask a: duplicate NAME: it and sysext a are both /etc/extensions/a.raw`},
		{[]string{"--image", "x.bin", "--mask", "b", "--mask", "b", "a:a.raw"}, `--mask b: duplicate NAME: it and --mask b are both /etc/extensions/b.raw`},
		{[]string{"--image", "x.bin", "--mask", "bad/name"}, "--mask"},
		{[]string{"--image", "x.bin", "wasmtime.raw"}, `argument "wasmtime.raw" is not NAME:FILE`},
	} {
		_, stderr, code := run(t, dir, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, want %d and one line with %q:\n%s", c.args, code, exitUsage, c.want, stderr)
		}
	}
}

// TestUnknownCommand: a mistyped sub-command is refused with a
// suggestion, both under a group command and at the root (where it would
// otherwise be read as a NAME:FILE argument).
func TestUnknownCommand(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sysext", "pakc"}, `unknown command "pakc" for "bake-os sysext"; did you mean "pack"?`},
		{[]string{"sysext", "creat", "x", "y"}, `unknown command "creat" for "bake-os sysext"; did you mean "create"?`},
		{[]string{"sysext", "frobnicate"}, `unknown command "frobnicate" for "bake-os sysext": see "bake-os sysext --help"`},
		{[]string{"inspekt", "x"}, `unknown command "inspekt" for "bake-os"; did you mean "inspect"?`},
		{[]string{"--image", "x.bin", "sysetx"}, `unknown command "sysetx" for "bake-os"; did you mean "sysext"?`},
		{[]string{"versoin"}, `did you mean "version"?`},
		{[]string{"help", "sysext", "pakc"}, `unknown command "pakc" for "bake-os sysext"; did you mean "pack"?`},
		{[]string{"help", "inspekt"}, `unknown command "inspekt" for "bake-os"; did you mean "inspect"?`},
	} {
		stdout, stderr, code := run(t, dir, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("%v: exit %d, want %d and %q:\n%s%s", c.args, code, exitUsage, c.want, stdout, stderr)
		}
	}
	// The group alone still shows its help, as does help for a command.
	for _, args := range [][]string{{"sysext"}, {"help", "sysext"}} {
		stdout, _, code := run(t, dir, args...)
		if code != 0 || !strings.Contains(stdout, "Available Commands:") || !strings.Contains(stdout, "bake-os sysext [command]") {
			t.Errorf("%v: exit %d\n%s", args, code, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	old := [2]string{version, commit}
	defer func() { version, commit = old[0], old[1] }()
	version, commit = "v9.8.7", "0123456789abcdef0123+dirty"
	want := "bake-os v9.8.7 (commit 0123456789ab+dirty, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		stdout, stderr, code := run(t, t.TempDir(), args...)
		if code != 0 || stdout != want {
			t.Errorf("%v: exit %d: %q, want %q (%s)", args, code, stdout, want, stderr)
		}
	}
	stdout, _, code := run(t, t.TempDir(), "version", "--json")
	var bi buildInfo
	if err := json.Unmarshal([]byte(stdout), &bi); err != nil || code != 0 {
		t.Fatalf("version --json: %v, exit %d: %s", err, code, stdout)
	}
	if bi.Version != "v9.8.7" || bi.Commit != "0123456789abcdef0123" || !bi.Dirty || bi.Go != runtime.Version() {
		t.Errorf("version --json: %+v", bi)
	}
	// Unset: Go's module and VCS information, never empty.
	version, commit = "", ""
	if bi := readBuildInfo(); bi.Version == "" || bi.Go == "" {
		t.Errorf("build info without ldflags: %+v", bi)
	}
}
