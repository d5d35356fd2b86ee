package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// TestMakeBuildWithoutGoInPath: the Makefile finds Go at /usr/local/go
// when it is not in PATH (as scripts/go-env.sh does) and stamps the
// version and commit from git into the binary. A dry run (make -n) shows
// the command without compiling.
func TestMakeBuildWithoutGoInPath(t *testing.T) {
	testutil.RequireTool(t, "make", "git")
	if runtime.GOROOT() != "/usr/local/go" {
		t.Skipf("Go is at %s, not /usr/local/go", runtime.GOROOT())
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-n", "-C", repo, "build")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	head := strings.TrimSpace(testutil.Run(t, "git", "-C", repo, "rev-parse", "HEAD"))
	for _, want := range []string{"/usr/local/go/bin/go build", "-X main.version=", "-X main.commit=" + head, "./cmd/bake-os"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make -n build lacks %q:\n%s", want, out)
		}
	}
}
