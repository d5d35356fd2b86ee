package flatwrap

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

func TestFlatwrapTree(t *testing.T) {
	testutil.RequireTool(t, "ldd")
	root := rootfstest.HostRootfs(t, "cat")
	rootfstest.Write(t, filepath.Join(root, "usr/share/marker"), "from the chroot\n")
	rootfstest.Write(t, filepath.Join(root, "etc/flatwrap-marker"), "chroot etc\n")
	rootfstest.Write(t, filepath.Join(root, "usr/lib/systemd/system/demo.service"), "[Service]\nExecStart=/usr/bin/cat\n")
	rootfstest.Must(t, os.Symlink("cat", filepath.Join(root, "usr/bin/kitty")))

	for _, etc := range []string{MapHost, MapChroot} {
		t.Run(etc, func(t *testing.T) {
			tree := filepath.Join(t.TempDir(), "tree")
			err := buildFlatwrapTree(context.Background(), Options{
				Rootfs: root, Name: "wrapped", EtcMap: etc,
				Paths: []string{"/usr/bin/cat", "/bin/kitty:/usr/bin/kitty", "/usr/lib/systemd/system/demo.service", "/usr/share"},
			}, tree)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(tree, "usr/local/wrapped/usr/share/marker")); err != nil {
				t.Fatal("chroot not shipped:", err)
			}
			if l, err := os.Readlink(filepath.Join(tree, "usr/lib/systemd/system/demo.service")); err != nil || l != "/usr/local/wrapped/usr/lib/systemd/system/demo.service" {
				t.Errorf("unit link = %q, %v", l, err)
			}
			if l, err := os.Readlink(filepath.Join(tree, "usr/share")); err != nil || l != "/usr/local/wrapped/usr/share" {
				t.Errorf("dir link = %q, %v", l, err)
			}
			w, err := os.ReadFile(filepath.Join(tree, "usr/bin/cat"))
			if err != nil {
				t.Fatal(err)
			}
			wrapper := string(w)
			wantEtc := ` --bind '/etc' '/etc'`
			if etc == MapChroot {
				wantEtc = ` --bind "$R"'/usr/local/wrapped/etc' '/etc'`
			}
			for _, want := range []string{
				"#!/bin/sh\n",
				`exec unshare -m "$R"'/usr/local/wrapped/unshare-helper' '/usr/bin/cat' "$@"`,
				` --bind "$R"'/usr/local/wrapped/usr' '/usr'`,
				` --bind "$R"'/usr/local/wrapped/usr/lib' '/lib'`,
				` --dev-bind '/dev' '/dev'`,
				` --bind '/var/tmp' '/var/tmp'`,
				wantEtc,
			} {
				if !strings.Contains(wrapper, want) {
					t.Errorf("wrapper lacks %q:\n%s", want, wrapper)
				}
			}
			if strings.Contains(wrapper, "'/sbin'") {
				t.Error("wrapper binds /sbin which the chroot does not have")
			}
			h, _ := os.ReadFile(filepath.Join(tree, "usr/local/wrapped/unshare-helper"))
			if !strings.Contains(string(h), "mount --rbind \"$R\"'/usr/local/wrapped/usr/lib64' \"$M\"'/lib64'") {
				t.Errorf("helper lacks lib64 bind:\n%s", h)
			}
			if strings.Index(string(h), "\"$M\"'/var'") > strings.Index(string(h), "\"$M\"'/var/tmp'") {
				t.Errorf("helper mounts /var/tmp before /var:\n%s", h)
			}
			// kitty is a link to an executable: it gets a wrapper too.
			if k, _ := os.ReadFile(filepath.Join(tree, "usr/bin/kitty")); !strings.Contains(string(k), "'/bin/kitty' \"$@\"") {
				t.Errorf("kitty wrapper:\n%s", k)
			}
			runFlatwrap(t, tree, etc)
		})
	}
}

// runFlatwrap executes the cat wrapper in each mode that this machine
// allows and checks it sees the chroot's files plus the mapped host ones.
func runFlatwrap(t *testing.T, tree, etc string) {
	hostFile := filepath.Join(t.TempDir(), "host-file")
	rootfstest.Write(t, hostFile, "from the host\n")
	wantEtc, etcFile := "", "/etc/flatwrap-marker"
	if etc == MapHost {
		etcFile = "/etc/hostname"
		b, err := os.ReadFile(etcFile)
		if err != nil {
			t.Skip("host has no /etc/hostname")
		}
		wantEtc = string(b)
	} else {
		wantEtc = "chroot etc\n"
	}
	modes := []string{"unshare", "bwrap", "unshare-unpriv"}
	if os.Geteuid() != 0 {
		modes = []string{"bwrap", "unshare-unpriv"}
	}
	ran := 0
	for _, mode := range modes {
		if mode == "bwrap" {
			if _, err := exec.LookPath("bwrap"); err != nil {
				continue
			}
		}
		cmd := exec.Command(filepath.Join(tree, "usr/bin/cat"), "/usr/share/marker", hostFile, etcFile)
		cmd.Env = append(os.Environ(), "FLATWRAP_ROOT="+tree, "FLATWRAP_MODE="+mode)
		cmd.Dir = filepath.Dir(hostFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) && (strings.Contains(string(out), "Operation not permitted") || strings.Contains(string(out), "Permission denied")) {
				t.Logf("mode %s not allowed here: %s", mode, out)
				continue
			}
			t.Errorf("mode %s: %v\n%s", mode, err, out)
			continue
		}
		if want := "from the chroot\nfrom the host\n" + wantEtc; string(out) != want {
			t.Errorf("mode %s output %q, want %q", mode, out, want)
		}
		ran++
	}
	testutil.Require(t, ran > 0, "namespaces", "no namespace mode allowed here")
	// As root, also run the wrapper as nobody with its own choice of mode
	// (bwrap when installed).
	if os.Geteuid() != 0 {
		return
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return
	}
	for _, p := range []string{tree, hostFile} {
		for d := filepath.Dir(p); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			rootfstest.Must(t, os.Chmod(d, 0o755))
		}
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "FLATWRAP_ROOT="+tree, filepath.Join(tree, "usr/bin/cat"), "/usr/share/marker", hostFile, etcFile)
	cmd.Dir = filepath.Dir(hostFile)
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil && (strings.Contains(string(out), "Operation not permitted") || strings.Contains(string(out), "Permission denied") || strings.Contains(string(out), "No permissions")):
		t.Logf("unprivileged run not allowed here: %s", out)
	case err != nil:
		t.Errorf("as nobody: %v\n%s", err, out)
	case string(out) != "from the chroot\nfrom the host\n"+wantEtc:
		t.Errorf("as nobody: output %q", out)
	}
}

func TestFlatwrapRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	rootfstest.Write(t, filepath.Join(root, "usr/bin/tool"), "#!/bin/sh\n")
	rootfstest.Must(t, os.Symlink("../../../../etc", filepath.Join(root, "usr/etc")))
	for _, paths := range [][]string{{"/usr/../etc/passwd:/usr/bin/x"}, {"/usr/etc/passwd"}} {
		err := buildFlatwrapTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: paths}, filepath.Join(t.TempDir(), "t"))
		if !errors.Is(err, rootfs.ErrPathEscapes) {
			t.Errorf("paths %q: %v, want rootfs.ErrPathEscapes", paths, err)
		}
	}
	err := buildFlatwrapTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: []string{"/usr/bin/tool"}, ChrootDirs: []string{"/usr/etc"}}, filepath.Join(t.TempDir(), "t"))
	if !errors.Is(err, rootfs.ErrPathEscapes) {
		t.Errorf("escaping chroot dir: %v", err)
	}
	err = buildFlatwrapTree(context.Background(), Options{Rootfs: root, Name: "x", Paths: []string{"/usr/bin/tool"}, EtcMap: "both"}, filepath.Join(t.TempDir(), "t"))
	if err == nil || !strings.Contains(err.Error(), "chroot") {
		t.Errorf("bad map mode: %v", err)
	}
}
