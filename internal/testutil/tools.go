// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireTool skips the test when the named executable is missing, unless
// BAKE_TEST_REQUIRE_TOOLS is "all" or lists the tool (comma or space
// separated): then a missing tool fails the test. CI sets it to "all".
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err == nil {
			continue
		}
		if required(name) {
			t.Fatalf("required test tool %q not found in PATH", name)
		}
		t.Skipf("test tool %q not found in PATH", name)
	}
}

// Required reports whether BAKE_TEST_REQUIRE_TOOLS asks for name: "all",
// or name itself, in its list.
func Required(name string) bool { return required(name) }

// Require skips the test when ok is false (what it needs is missing
// here, why says what), unless BAKE_TEST_REQUIRE_TOOLS is "all" or names
// what: then the test fails. For needs other than an executable: "root",
// "loop", "namespaces", a file.
func Require(t testing.TB, ok bool, what, why string) {
	t.Helper()
	if ok {
		return
	}
	if required(what) {
		t.Fatalf("required: %s (%s)", what, why)
	}
	t.Skipf("%s: %s", what, why)
}

// RequireRoot needs uid 0 (device nodes, loop mounts, other owners).
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root", "this test needs root")
}

// RequireLoop needs root and loop devices.
func RequireLoop(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	_, err := os.Stat("/dev/loop-control")
	Require(t, err == nil, "loop", "no loop devices (/dev/loop-control)")
}

func required(name string) bool {
	v := os.Getenv("BAKE_TEST_REQUIRE_TOOLS")
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if f == "all" || f == name {
			return true
		}
	}
	return false
}

// Run runs a command and fails the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
