package recipe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild/oci"
)

// fakeEngine writes a docker stand-in that answers `info` and, for `run`,
// installs usr/bin/<bin> into the mounted work dir and logs its arguments.
func fakeEngine(t *testing.T, bin string) (engine, log string) {
	t.Helper()
	dir := t.TempDir()
	engine, log = filepath.Join(dir, "docker"), filepath.Join(dir, "calls")
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %q
case "$1" in
info) exit 0 ;;
run)
  while [ $# -gt 0 ]; do
    if [ "$1" = -v ]; then dir="${2%%%%:*}"; fi
    shift
  done
  test -x "$dir/build.sh" || exit 3
  mkdir -p "$dir/usr/bin"
  printf '#!/bin/sh\necho %s\n' > "$dir/usr/bin/%s"
  chmod 0755 "$dir/usr/bin/%s"
  exit 0 ;;
esac
exit 1
`, log, bin, bin, bin)
	if err := os.WriteFile(engine, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return engine, log
}

func TestCreateContainerRecipes(t *testing.T) {
	uidgid := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	for _, c := range []struct {
		recipe, version, bin string
		arch                 flatcar.Arch
		extra                map[string]string
		call                 string
	}{
		{"bird", "3.1.2", "bird", flatcar.ArchARM64, nil,
			"--platform linux/arm64/v8 docker.io/alpine:3.21 /install_root/build.sh 3.1.2 " + uidgid},
		{"chrony", "4.6.1", "chronyd", flatcar.ArchX86_64, nil,
			"--platform linux/amd64 docker.io/alpine:3.21 /install_root/build.sh 4.6.1 " + uidgid},
		{"haproxy", "3.1.1", "haproxy", flatcar.ArchX86_64, nil,
			"--platform linux/amd64 --pull always --network host docker.io/alpine:3.21 /install_root/build.sh 3.1.1 " + uidgid},
		{"scx", "v1.0.8", "scx_bpfland", flatcar.ArchX86_64, map[string]string{"usr/share/scx/scx": file},
			"--platform linux/amd64 --pull always docker.io/alpine:latest /install_root/build.sh v1.0.8 " + uidgid},
	} {
		t.Run(c.recipe, func(t *testing.T) {
			engine, log := fakeEngine(t, c.bin)
			runRecipeCase(t, recipeCase{
				name:   c.recipe,
				o:      CreateOptions{Recipe: c.recipe, Version: c.version, Arch: c.arch, Engines: []string{engine}},
				serve:  func(t *testing.T, m *mirror) {},
				files:  merge(staticFiles(t, c.recipe), map[string]string{"usr/bin/" + c.bin: exe}, c.extra),
				output: c.recipe + "-" + c.version + "-" + string(c.arch) + ".raw",
			})
			calls, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(calls), c.call) {
				t.Errorf("engine calls:\n%s\nwant one containing %q", calls, c.call)
			}
		})
	}
}

func TestCreateScxSchedulerOption(t *testing.T) {
	engine, _ := fakeEngine(t, "scx_lavd")
	img := runRecipeCase(t, recipeCase{
		o:      CreateOptions{Recipe: "scx", Version: "v1.0.8", Engines: []string{engine}, Options: map[string]string{"scheduler": "scx_lavd"}},
		serve:  func(t *testing.T, m *mirror) {},
		files:  merge(staticFiles(t, "scx"), map[string]string{"usr/bin/scx_lavd": exe, "usr/share/scx/scx": file}),
		output: "scx-v1.0.8-x86-64.raw",
	})
	if s := catImage(t, img, "usr/share/scx/scx"); !strings.Contains(s, "\nSCX_SCHEDULER=scx_lavd\n") {
		t.Errorf("usr/share/scx/scx:\n%s", s)
	}
}

// TestCreateBtopFlatwrap replaces the container step with a fake root
// filesystem and checks that Flatwrap's tree is packed under the recipe's
// name with the recipe's metadata.
func TestCreateBtopFlatwrap(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	engine, _ := fakeEngine(t, "unused")
	var got oci.Options
	orig := ociRootfs
	t.Cleanup(func() { ociRootfs = orig })
	ociRootfs = func(ctx context.Context, o oci.Options) error {
		got = o
		for p, mode := range map[string]os.FileMode{"usr/bin/btop": 0o755, "lib/ld-musl-x86_64.so.1": 0o755, "etc/os-release": 0o644} {
			full := filepath.Join(o.Dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, []byte("fake "+p+"\n"), mode); err != nil {
				return err
			}
		}
		return nil
	}
	out := filepath.Join(t.TempDir(), "btop.raw")
	res, err := Create(context.Background(), CreateOptions{
		Recipe: "btop", Version: "1.4.0", Output: out, Engines: []string{engine}, Getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Engines, []string{engine}) {
		t.Errorf("the container ran with engines %q, not the recipe's checked %q", got.Engines, engine)
	}
	if got.Image != "docker.io/alpine:latest" || !strings.Contains(got.Cmd, "apk add -U btop") || got.Arch != flatcar.ArchX86_64 {
		t.Errorf("oci.Rootfs called with %+v", got)
	}
	ents := listImage(t, res.Output)
	for p, mode := range map[string]string{
		"usr/bin/btop":                                       exe,
		"usr/local/btop/usr/bin/btop":                        exe,
		"usr/local/btop/etc/os-release":                      file,
		"usr/lib/extension-release.d/extension-release.btop": file,
	} {
		if e, ok := ents[p]; !ok || e.Mode != mode || e.Owner != "root/root" {
			t.Errorf("%s: %+v (present %v), want %s root/root", p, e, ok, mode)
		}
	}
	if s := catImage(t, res.Output, "usr/lib/extension-release.d/extension-release.btop"); strings.TrimSpace(s) != "ID=_any\nARCHITECTURE=x86-64" {
		t.Errorf("extension-release:\n%s", s)
	}
}

// TestFindEngineRefusal: engines are tried in the given order and the
// refusal names each one and what it lacked.
func TestFindEngineRefusal(t *testing.T) {
	dir := t.TempDir()
	down := "#!/bin/sh\necho 'Cannot connect to the daemon' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(down), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	_, err := findEngine(context.Background(), nil)
	want := "no container engine: tried docker (`docker info` failed: is the daemon running?), podman (not installed)"
	if !errors.Is(err, ErrNoContainerEngine) || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	up, _ := fakeEngine(t, "x")
	if p, err := findEngine(context.Background(), []string{"podman", "docker", up}); err != nil || p != up {
		t.Errorf("engine %q %v, want %s", p, err, up)
	}
}
