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
