package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"go.yaml.in/yaml/v3"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
	"github.com/bake-os/bake-os/vendors"
)

// readmeCommand is one command of a ```sh block of README.md.
type readmeCommand struct {
	line string   // as written, continuation lines joined, comment removed
	args []string // shell words
}

// readmeCommands returns every command of README.md's ```sh blocks.
func readmeCommands(t *testing.T) []readmeCommand {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeCommand
	in := false
	pending := ""
	for n, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			if in && pending != "" {
				t.Fatalf("README.md:%d: a command ends with a backslash", n+1)
			}
			in = strings.TrimSpace(l) == "```sh"
			continue
		case !in:
			continue
		}
		if strings.HasSuffix(l, "\\") {
			pending += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l = pending + l
		pending = ""
		words, err := shellWords(l)
		if err != nil {
			t.Fatalf("README.md:%d: %v", n+1, err)
		}
		if len(words) == 0 {
			continue
		}
		out = append(out, readmeCommand{line: strings.Join(words, " "), args: words})
	}
	if len(out) < 10 {
		t.Fatalf("only %d commands found in README.md", len(out))
	}
	return out
}

// shellWords splits a command line as sh does for plain words, single and
// double quotes and backslashes; a word starting with # starts a comment.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestShellWords(t *testing.T) {
	for in, want := range map[string]string{
		`bake-os a:b.raw   # comment`:       "bake-os|a:b.raw",
		`x --name 'my ext' "q w"\ e`:        "x|--name|my ext|q w e",
		`# only a comment`:                  "",
		`scripts/demo.sh     # generate...`: "scripts/demo.sh",
	} {
		got, err := shellWords(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("shellWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// readmeEnv holds the inputs every README command finds in its directory,
// and the local servers standing in for Flatcar's release server, the
// bakery and upstream download sites.
type readmeEnv struct {
	inputs   string // files linked into each command's directory
	cache    string // shared download cache (so --offline finds the earlier runs' files)
	fetch    []string
	upstream string
	repo     string // the repository root
}

// readmeCase says how one README command runs: extra flags pointing it at
// the local servers, and what to check afterwards in its directory.
type readmeCase struct {
	extra func(e *readmeEnv) []string
	check func(t *testing.T, dir, stdout string)
}

func fetchFlags(e *readmeEnv) []string { return e.fetch }
func upstreamFlags(e *readmeEnv) []string {
	return []string{"--url-rewrite", "https://=" + e.upstream + "/"}
}
func noFlags(*readmeEnv) []string          { return nil }
func offset(part int64) string             { return fmt.Sprintf("?offset=%d", part*512) }
func rootOf(img string) string             { return img + offset(12722176) }
func sysextIn(t *testing.T, img, p string) { debugfsRegular(t, rootOf(img), p) }

func debugfsRegular(t *testing.T, spec, p string) {
	t.Helper()
	if v := testutil.Run(t, "debugfs", "-R", "stat "+p, spec); !strings.Contains(v, "Type: regular") {
		t.Errorf("%s is not a regular file in %s: %s", p, spec, v)
	}
}

func requireOutput(t *testing.T, p string) {
	t.Helper()
	if st, err := os.Stat(p); err != nil || st.Size() == 0 {
		t.Errorf("expected output %s: %v", p, err)
	}
}

func squashfsHas(t *testing.T, img string, paths ...string) {
	t.Helper()
	list := testutil.Run(t, "unsquashfs", "-l", img)
	for _, p := range paths {
		if !strings.Contains(list, "squashfs-root/"+p+"\n") {
			t.Errorf("%s lacks %s:\n%s", img, p, list)
		}
	}
}

const baked = "flatcar_production_image.bin"

// readmeCases has an entry for every command of README.md: a command
// without one fails the test, and so does an entry the README lost.
var readmeCases = map[string]readmeCase{
	"bake-os --image flatcar_production_image.bin.bz2 --ignition config.ign wasmtime:wasmtime-24.0.0-x86-64.raw": {noFlags, func(t *testing.T, dir, _ string) {
		img := filepath.Join(dir, baked)
		sysextIn(t, img, "/opt/extensions/wasmtime-24.0.0-x86-64.raw")
		oem := filepath.Join(t.TempDir(), "oem")
		testutil.ExtractSectors(t, img, oem, 10493952, 2097152)
		restored := t.TempDir()
		testutil.Run(t, "btrfs", "restore", oem, restored)
		want, _ := os.ReadFile(filepath.Join(dir, "config.ign"))
		if got, err := os.ReadFile(filepath.Join(restored, "config.ign")); err != nil || string(got) != string(want) {
			t.Errorf("OEM config.ign = %q, %v; want %q", got, err, want)
		}
	}},
	"bake-os --image flatcar_production_image.bin.bz2 --enable-extension zfs --disable-extension docker": {fetchFlags, func(t *testing.T, dir, _ string) {
		img := filepath.Join(dir, baked)
		const placed = "/etc/flatcar/sysext/flatcar-zfs-4593.2.5.raw"
		sysextIn(t, img, placed)
		if v := testutil.Run(t, "debugfs", "-R", "stat /etc/extensions/flatcar-zfs.raw", rootOf(img)); !strings.Contains(v, `Fast link dest: "`+placed+`"`) {
			t.Errorf("flatcar-zfs not linked: %s", v)
		}
		if v := testutil.Run(t, "debugfs", "-R", "stat /etc/extensions/docker-flatcar.raw", rootOf(img)); !strings.Contains(v, `Fast link dest: "/dev/null"`) {
			t.Errorf("docker-flatcar not masked: %s", v)
		}
		if conf, err := exec.Command("debugfs", "-R", "cat /etc/flatcar/enabled-sysext.conf", rootOf(img)).Output(); err != nil || string(conf) != "zfs\n-docker\n" {
			t.Errorf("enabled-sysext.conf = %q, %v", conf, err)
		}
		testutil.Run(t, "e2fsck", "-fn", rootOf(img))
	}},
	"bake-os --image flatcar_production_image.bin.bz2 --autologin --kernel-arg console=ttyS0,115200n8 --sysupdate k3s:k3s-v1.31.1-x86-64.raw": {noFlags, func(t *testing.T, dir, _ string) {
		img := filepath.Join(dir, baked)
		sysextIn(t, img, "/opt/extensions/k3s/k3s-v1.31.1-x86-64.raw")
		if v := testutil.Run(t, "debugfs", "-R", "stat /etc/systemd/system/timers.target.wants/systemd-sysupdate.timer", rootOf(img)); !strings.Contains(v, `Fast link dest: "/usr/lib/systemd/system/systemd-sysupdate.timer"`) {
			t.Errorf("timer not enabled: %s", v)
		}
		if v := testutil.Run(t, "debugfs", "-R", "cat /etc/systemd/system/systemd-sysupdate.service.d/k3s.conf", rootOf(img)); !strings.Contains(v, "systemd-sysupdate -C k3s update") {
			t.Errorf("k3s drop-in: %q", v)
		}
		oem := filepath.Join(t.TempDir(), "oem")
		testutil.ExtractSectors(t, img, oem, 10493952, 2097152)
		restored := t.TempDir()
		testutil.Run(t, "btrfs", "restore", oem, restored)
		if b, _ := os.ReadFile(filepath.Join(restored, "grub.cfg")); !strings.Contains(string(b), `set linux_append="$linux_append flatcar.autologin console=ttyS0,115200n8"`) &&
			!strings.Contains(string(b), `set linux_append="$linux_append console=ttyS0,115200n8 flatcar.autologin"`) {
			t.Errorf("OEM grub.cfg %q", b)
		}
	}},
	"bake-os --image flatcar_production_image.bin.bz2 wasmtime:wasmtime-24.0.0-x86-64.raw": {noFlags, func(t *testing.T, dir, _ string) {
		sysextIn(t, filepath.Join(dir, baked), "/opt/extensions/wasmtime-24.0.0-x86-64.raw")
	}},
	"bake-os --image flatcar_production_image.bin --output-dir out --install_to oem:/sysext/ myext:myext.raw": {noFlags, func(t *testing.T, dir, _ string) {
		oem := filepath.Join(t.TempDir(), "oem")
		testutil.ExtractSectors(t, filepath.Join(dir, "out", baked), oem, 10493952, 2097152)
		restored := t.TempDir()
		testutil.Run(t, "btrfs", "restore", oem, restored)
		requireOutput(t, filepath.Join(restored, "sysext/myext.raw"))
	}},
	"bake-os --image flatcar_production_image.bin --output-dir out --mask docker-flatcar --mask containerd-flatcar docker:docker-24.0.9-x86-64.raw": {noFlags, func(t *testing.T, dir, _ string) {
		img := filepath.Join(dir, "out", baked)
		sysextIn(t, img, "/opt/extensions/docker-24.0.9-x86-64.raw")
		if v := testutil.Run(t, "debugfs", "-R", "stat /etc/extensions/docker-flatcar.raw", rootOf(img)); !strings.Contains(v, "Fast link dest: \"/dev/null\"") {
			t.Errorf("docker-flatcar not masked: %s", v)
		}
	}},
	"bake-os inspect flatcar_production_image.bin": {noFlags, func(t *testing.T, _, stdout string) {
		if !strings.Contains(stdout, "USR-A") || !strings.Contains(stdout, "ROOT") {
			t.Errorf("inspect output: %s", stdout)
		}
	}},
	"bake-os --fetch wasmtime:wasmtime-24.0.0-x86-64.raw": {fetchFlags, func(t *testing.T, dir, _ string) {
		sysextIn(t, filepath.Join(dir, baked), "/opt/extensions/wasmtime-24.0.0-x86-64.raw")
	}},
	"bake-os --release 4593.2.5 --arch arm64 --fetch docker:docker-24.0.9-arm64.raw": {fetchFlags, func(t *testing.T, dir, _ string) {
		sysextIn(t, filepath.Join(dir, baked), "/opt/extensions/docker-24.0.9-arm64.raw")
	}},
	"bake-os --offline --fetch wasmtime:wasmtime-24.0.0-x86-64.raw": {fetchFlags, func(t *testing.T, dir, _ string) {
		sysextIn(t, filepath.Join(dir, baked), "/opt/extensions/wasmtime-24.0.0-x86-64.raw")
	}},
	"bake-os --image flatcar_production_image.bin.bz2 --vendor qemu_uefi ext:ext.raw": {noFlags, func(t *testing.T, dir, _ string) {
		testutil.Run(t, "qemu-img", "check", filepath.Join(dir, "flatcar_production_qemu_uefi_image.img"))
		requireOutput(t, filepath.Join(dir, "flatcar_production_qemu_uefi.sh"))
	}},
	"bake-os --release stable --fetch --vendor ami,azure,vmware_ova wasmtime:wasmtime-24.0.0-x86-64.raw": {fetchFlags, func(t *testing.T, dir, _ string) {
		requireOutput(t, filepath.Join(dir, "flatcar_production_vmware_ova.ova"))
		testutil.Run(t, "sgdisk", "-v", filepath.Join(dir, "flatcar_production_ami_image.bin"))
		if info := testutil.Run(t, "qemu-img", "info", "-f", "vpc", filepath.Join(dir, "flatcar_production_azure_image.vhd")); !strings.Contains(info, "file format: vpc") {
			t.Errorf("azure vhd: %s", info)
		}
	}},
	"bake-os --image flatcar_production_image.bin.bz2 --vendor iso --ignition config.ign": {noFlags, func(t *testing.T, dir, _ string) {
		checkLiveISO(t, filepath.Join(dir, "flatcar_production_iso_image.iso"), filepath.Join(dir, "config.ign"), true)
	}},
	"bake-os --image flatcar_production_image.bin.bz2 --vendor pxe --ignition config.ign --json": {noFlags, func(t *testing.T, dir, stdout string) {
		checkLivePXE(t, dir, stdout)
	}},
	"bake-os --image flatcar_production_image.bin.bz2 --vendor usb --ignition config.ign --kernel-arg console=ttyS0,115200n8": {noFlags, func(t *testing.T, dir, _ string) {
		checkLiveUSB(t, filepath.Join(dir, usbImageName), filepath.Join(dir, "config.ign"), "'console=ttyS0,115200n8'")
	}},
	"bake-os iso customize flatcar_production_iso_image.iso --ignition config.ign --kernel-arg console=ttyS0,115200n8 -o live.iso": {noFlags, func(t *testing.T, dir, _ string) {
		checkLiveISO(t, filepath.Join(dir, "live.iso"), filepath.Join(dir, "config.ign"), false)
		x := t.TempDir()
		testutil.Run(t, "osirrox", "-indev", filepath.Join(dir, "live.iso"), "-extract", "/isolinux/isolinux.cfg", filepath.Join(x, "isolinux.cfg"))
		if b, _ := os.ReadFile(filepath.Join(x, "isolinux.cfg")); !strings.Contains(string(b), " console=ttyS0,115200n8\n") {
			t.Errorf("isolinux.cfg lacks the kernel argument:\n%s", b)
		}
	}},
	"bake-os --image flatcar_production_image.bin --vendor all --compress none": {noFlags, func(t *testing.T, dir, stdout string) {
		if n := len(strings.Fields(stdout)); n < 32 {
			t.Errorf("--vendor all wrote %d files:\n%s", n, stdout)
		}
		testutil.Run(t, "qemu-img", "check", filepath.Join(dir, "flatcar_production_openstack_image.img"))
	}},
	"bake-os sysext pack ./mytree --name myext --arch x86-64 --os flatcar --sysupdate": {noFlags, func(t *testing.T, dir, stdout string) {
		squashfsHas(t, strings.TrimSpace(stdout), "usr/bin/hello", "usr/lib/extension-release.d/extension-release.myext")
	}},
	"bake-os sysext create wasmtime 24.0.0 --arch x86-64": {upstreamFlags, func(t *testing.T, dir, _ string) {
		squashfsHas(t, filepath.Join(dir, "wasmtime-24.0.0-x86-64.raw"), "usr/bin/wasmtime")
	}},
	"bake-os sysext create docker 24.0.9 --without containerd": {upstreamFlags, func(t *testing.T, dir, _ string) {
		img := filepath.Join(dir, "docker-24.0.9-x86-64.raw")
		squashfsHas(t, img, "usr/bin/dockerd")
		if list := testutil.Run(t, "unsquashfs", "-l", img); strings.Contains(list, "usr/bin/containerd") {
			t.Errorf("--without containerd kept containerd:\n%s", list)
		}
	}},
	"bake-os sysext list": {noFlags, func(t *testing.T, _, stdout string) {
		if !strings.Contains(stdout, "wasmtime") || !strings.Contains(stdout, "kubernetes") {
			t.Errorf("sysext list: %s", stdout)
		}
	}},
	"bake-os sysext list kubernetes --latest": {upstreamFlags, func(t *testing.T, _, stdout string) {
		if strings.TrimSpace(stdout) != "v1.33.2\nv1.32.6" {
			t.Errorf("sysext list kubernetes --latest: %q", stdout)
		}
	}},
	"bake-os sysext release --versions release_build_versions.txt --output-dir out --jobs 2": {upstreamFlags, func(t *testing.T, dir, _ string) {
		for _, a := range []string{"x86-64", "arm64"} {
			squashfsHas(t, filepath.Join(dir, "out", "wasmtime-24.0.0-"+a+".raw"), "usr/bin/wasmtime")
		}
		requireOutput(t, filepath.Join(dir, "out", "SHA256SUMS"))
	}},
	"bake-os sysext oci-rootfs alpine-layout/ alpine": {noFlags, func(t *testing.T, dir, _ string) {
		requireOutput(t, filepath.Join(dir, "alpine/usr/bin/hello"))
	}},
	"bake-os sysext flix alpine-rootfs b3sum /usr/bin/b3sum /bin/busybox:/usr/bin/busybox": {noFlags, func(t *testing.T, dir, _ string) {
		squashfsHas(t, filepath.Join(dir, "b3sum.raw"), "usr/bin/b3sum", "usr/bin/busybox")
	}},
	"bake-os sysext flatwrap alpine-rootfs htop /usr/bin/htop --etc-map chroot": {noFlags, func(t *testing.T, dir, _ string) {
		squashfsHas(t, filepath.Join(dir, "htop.raw"), "usr/bin/htop")
	}},
	"bake-os sysext torcx docker-torcx.tgz mydocker": {noFlags, func(t *testing.T, dir, _ string) {
		squashfsHas(t, filepath.Join(dir, "mydocker.raw"), "usr/bin/dockerd")
	}},
	"bake-os sysext check myext.raw --image flatcar_production_image.bin": {noFlags, func(t *testing.T, _, stdout string) {
		for _, want := range []string{"ok       name                      extension-release.myext found for the name myext\n",
			"ok       SYSEXT_LEVEL              SYSEXT_LEVEL=1.0 matches the host\n",
			"systemd-sysext on flatcar 4593.2.5 (x86-64) would merge myext.raw as myext\n"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("sysext check output lacks %q:\n%s", want, stdout)
			}
		}
	}},
	"bake-os butane wasmtime:wasmtime-24.0.0-x86-64.raw --sysupdate --mask docker-flatcar": {noFlags, func(t *testing.T, dir, stdout string) {
		var cfg struct {
			Variant string
			Storage struct {
				Files []struct {
					Path     string
					Contents struct {
						Source       string
						Verification struct{ Hash string }
					}
				}
			}
		}
		if err := yaml.Unmarshal([]byte(stdout), &cfg); err != nil || cfg.Variant != "flatcar" || len(cfg.Storage.Files) != 3 {
			t.Fatalf("butane output (%v):\n%s", err, stdout)
		}
		f := cfg.Storage.Files[0]
		if f.Path != "/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw" ||
			f.Contents.Source != "https://extensions.flatcar.org/extensions/wasmtime-24.0.0-x86-64.raw" ||
			f.Contents.Verification.Hash != "sha256-"+testutil.FileSHA256(t, filepath.Join(dir, "wasmtime-24.0.0-x86-64.raw")) {
			t.Errorf("sysext file entry: %+v", f)
		}
		if !strings.Contains(stdout, "ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C wasmtime update") {
			t.Errorf("no sysupdate drop-in:\n%s", stdout)
		}
	}},
}

// TestREADMECommands runs every command of README.md's ```sh blocks, each
// in a fresh directory holding the inputs the README assumes (a generated
// Flatcar image, sysexts, trees, archives), against release, bakery and
// upstream servers on 127.0.0.1, and checks what each wrote with an
// independent tool. scripts/test.sh is the command CI runs (.ci/run), so it
// is checked to be that, not run from inside the test suite.
func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "unsquashfs", "bzip2", "debugfs", "qemu-img", "btrfs", "dd", "sgdisk", "patchelf", "xz", "ldd")
	cmds := readmeCommands(t)
	e := newReadmeEnv(t)
	used := map[string]bool{}
	for _, c := range cmds {
		switch c.args[0] {
		case "scripts/test.sh":
			ci, err := os.ReadFile("../../.ci/run")
			if err != nil || !strings.Contains(string(ci), "scripts/test.sh") {
				t.Errorf("README's test command %q is not what .ci/run runs", c.line)
			}
			continue
		case "scripts/demo.sh":
			t.Run("demo.sh", func(t *testing.T) {
				cmd := exec.Command("bash", "scripts/demo.sh")
				cmd.Dir = e.repo
				cmd.Env = append(os.Environ(), "DEMO_DIR="+t.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "hello.raw") {
					t.Errorf("scripts/demo.sh: %v\n%s", err, out)
				}
			})
			continue
		case "bake-os":
		default:
			t.Errorf("README command %q: not a bake-os command nor a known script", c.line)
			continue
		}
		rc, ok := readmeCases[c.line]
		if !ok {
			t.Errorf("README command %q has no case in readmeCases: add one that runs and checks it", c.line)
			continue
		}
		used[c.line] = true
		t.Run(c.line, func(t *testing.T) {
			dir := e.sandbox(t, c.args)
			stdout, stderr, code := run(t, dir, append(c.args[1:], rc.extra(e)...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			rc.check(t, dir, stdout)
		})
	}
	for line := range readmeCases {
		if !used[line] {
			t.Errorf("readmeCases has %q, which README.md no longer shows", line)
		}
	}
}

// sandbox makes a directory holding (hard links to) every input. The raw
// image is there only when the command names it: a user who downloaded
// the .bin.bz2 has no .bin where the bake writes one.
func (e *readmeEnv) sandbox(t *testing.T, args []string) string {
	t.Helper()
	dir := t.TempDir()
	namesRaw, namesISO := false, false
	for _, a := range args {
		namesRaw = namesRaw || a == baked
		namesISO = namesISO || a == readmeISO
	}
	err := filepath.WalkDir(e.inputs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.inputs, p)
		if rel == baked && !namesRaw || rel == readmeISO && !namesISO {
			return nil
		}
		dst := filepath.Join(dir, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		default:
			return os.Link(p, dst)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func newReadmeEnv(t *testing.T) *readmeEnv {
	t.Helper()
	ctx := context.Background()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e := &readmeEnv{inputs: t.TempDir(), cache: t.TempDir(), repo: repo}
	in := e.inputs
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// The image, its .bin.bz2 and the OEM sysexts of every vendor beside it.
	img := filepath.Join(in, baked)
	must(testimage.Generate(ctx, img, testimage.Options{}))
	must(testimage.Bzip2(ctx, img, img+".bz2"))
	for _, id := range readmeOEMIDs(t) {
		must(testimage.Sysext(ctx, filepath.Join(in, "oem-"+id+".raw"), "oem-"+id,
			"ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-"+id+"\n", nil))
	}
	for name, file := range map[string]string{"wasmtime": "wasmtime-24.0.0-x86-64.raw", "myext": "myext.raw",
		"docker": "docker-24.0.9-x86-64.raw", "ext": "ext.raw", "k3s": "k3s-v1.31.1-x86-64.raw"} {
		must(testimage.Sysext(ctx, filepath.Join(in, file), name, "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n",
			map[string]string{"usr/bin/" + name: "#!/bin/sh\n"}))
	}
	must(os.WriteFile(filepath.Join(in, "config.ign"),
		[]byte(`{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA readme"]}]}}`), 0o644))
	must(os.WriteFile(filepath.Join(in, "k3s.conf"), []byte("[Source]\nType=url-file\nPath=https://extensions.flatcar.org/extensions/k3s/\nMatchPattern=k3s-@v-%a.raw\n\n[Target]\nType=regular-file\nPath=/opt/extensions/k3s\nCurrentSymlink=/etc/extensions/k3s.raw\n"), 0o644))
	must(os.MkdirAll(filepath.Join(in, "mytree/usr/bin"), 0o755))
	must(os.WriteFile(filepath.Join(in, "mytree/usr/bin/hello"), []byte("#!/bin/sh\necho hello\n"), 0o755))
	must(os.WriteFile(filepath.Join(in, "release_build_versions.txt"), []byte("# NAME VERSION\nwasmtime 24.0.0\n"), 0o644))
	must(os.WriteFile(filepath.Join(in, "docker-torcx.tgz"), readmeTgz(t, map[string]string{
		"bin/dockerd": "#!/bin/sh\n", "lib/systemd/system/docker.service": "[Service]\nExecStart=/usr/bin/dockerd\n",
		".torcx/manifest.json": "{}"}), 0o644))
	readmeRootfs(t, filepath.Join(in, "alpine-rootfs"))
	readmeFlatcarISO(t, filepath.Join(in, readmeISO))
	readmeOCILayout(t, filepath.Join(in, "alpine-layout"))

	// Release server and bakery, signed by a throw-away key.
	srvRoot := t.TempDir()
	key, err := openpgp.NewEntity("bake-os test", "throw-away", "test@bake-os.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	must(err)
	for _, arch := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		rel := filepath.Join(srvRoot, "stable", arch.Board(), "4593.2.5")
		must(os.MkdirAll(rel, 0o755))
		src := img
		if arch != flatcar.ArchX86_64 {
			src = filepath.Join(t.TempDir(), baked)
			must(testimage.Generate(ctx, src, testimage.Options{Arch: arch}))
		}
		must(testimage.Bzip2(ctx, src, filepath.Join(rel, baked+".bz2")))
		vt, err := os.ReadFile(filepath.Join(filepath.Dir(src), "version.txt"))
		must(err)
		must(os.WriteFile(filepath.Join(rel, "version.txt"), vt, 0o644))
		names := []string{baked + ".bz2", "version.txt"}
		for _, id := range []string{"ami", "azure", "vmware"} {
			must(testimage.Sysext(ctx, filepath.Join(rel, "oem-"+id+".raw"), "oem-"+id,
				"ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE="+string(arch)+"\nSYSEXT_ID=oem-"+id+"\n", nil))
			names = append(names, "oem-"+id+".raw")
		}
		must(testimage.Sysext(ctx, filepath.Join(rel, "flatcar-zfs.raw"), "flatcar-zfs",
			"ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE="+string(arch)+"\nSYSEXT_ID=flatcar-zfs\n", map[string]string{"usr/sbin/zpool": "#!/bin/sh\n"}))
		names = append(names, "flatcar-zfs.raw")
		for _, name := range names {
			data, err := os.ReadFile(filepath.Join(rel, name))
			must(err)
			var sig bytes.Buffer
			must(openpgp.DetachSign(&sig, key, bytes.NewReader(data), nil))
			must(os.WriteFile(filepath.Join(rel, name+".sig"), sig.Bytes(), 0o644))
			sum := sha512.Sum512(data)
			must(os.WriteFile(filepath.Join(rel, name+".DIGESTS"), []byte(fmt.Sprintf("# SHA512 HASH\n%x  %s\n", sum, name)), 0o644))
		}
	}
	must(os.WriteFile(filepath.Join(srvRoot, "releases.json"),
		[]byte(`{"4593.2.5":{"channel":"stable","architectures":["amd64","arm64"]},"4593.1.0":{"channel":"beta","architectures":["amd64"]}}`), 0o644))
	bakery := filepath.Join(srvRoot, "bakery")
	must(os.MkdirAll(bakery, 0o755))
	var sums strings.Builder
	for name, arch := range map[string]string{"wasmtime-24.0.0-x86-64.raw": "x86-64", "docker-24.0.9-arm64.raw": "arm64"} {
		ext := strings.SplitN(name, "-", 2)[0]
		must(testimage.Sysext(ctx, filepath.Join(bakery, name), ext, "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE="+arch+"\n", nil))
		data, err := os.ReadFile(filepath.Join(bakery, name))
		must(err)
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), name)
	}
	must(os.WriteFile(filepath.Join(bakery, "SHA256SUMS"), []byte(sums.String()), 0o644))
	var pub bytes.Buffer
	must(key.Serialize(&pub))
	keyFile := filepath.Join(t.TempDir(), "key.gpg")
	must(os.WriteFile(keyFile, pub.Bytes(), 0o644))
	srv := httptest.NewServer(http.FileServer(http.Dir(srvRoot)))
	t.Cleanup(srv.Close)
	e.fetch = []string{"--releases-json", srv.URL + "/releases.json", "--release-url", srv.URL + "/{channel}",
		"--bakery-url", srv.URL + "/bakery", "--signing-key", keyFile, "--cache-dir", e.cache}

	// Upstream download sites of the recipes the README builds.
	files := map[string][]byte{
		"raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml": []byte(
			"schedules:\n- release: \"1.33\"\n  previousPatches:\n  - release: 1.33.2\n  - release: 1.33.1\n" +
				"- release: \"1.32\"\n  previousPatches:\n  - release: 1.32.6\n"),
		"download.docker.com/linux/static/stable/x86_64/docker-24.0.9.tgz": readmeTgz(t, map[string]string{
			"docker/docker": "#!/bin/sh\n", "docker/dockerd": "#!/bin/sh\n", "docker/containerd": "#!/bin/sh\n", "docker/runc": "#!/bin/sh\n"}),
	}
	for _, a := range []string{"x86_64", "aarch64"} {
		dir := "wasmtime-v24.0.0-" + a + "-linux"
		files["github.com/bytecodealliance/wasmtime/releases/download/v24.0.0/"+dir+".tar.xz"] = readmeTarXz(t, map[string]string{dir + "/wasmtime": "#!/bin/sh\n"})
	}
	up, _ := fakeUpstream(t, files, nil)
	e.upstream = up.URL
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	return e
}

// readmeOEMIDs are the OEM sysexts the vendors need.
func readmeOEMIDs(t *testing.T) []string {
	seen := map[string]bool{}
	var ids []string
	for _, v := range vendors.All() {
		if v.OEM != "" && !seen[v.OEM] {
			seen[v.OEM] = true
			ids = append(ids, v.OEM)
		}
	}
	if len(ids) < 10 {
		t.Fatalf("only %d OEM IDs in the vendor table", len(ids))
	}
	return ids
}

func readmeTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readmeTgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(readmeTar(t, files))
	zw.Close()
	return buf.Bytes()
}

func readmeTarXz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	cmd := exec.Command("xz", "-c")
	cmd.Stdin = bytes.NewReader(readmeTar(t, files))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readmeRootfs makes a small root filesystem from the host's real dynamic
// executables and the libraries they load, laid out the Debian way
// (multiarch library directory, no ld.so.conf), with b3sum, busybox and
// htop standing in for the README's programs.
func readmeRootfs(t *testing.T, root string) {
	t.Helper()
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(src, dst string, mode os.FileMode) {
		t.Helper()
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, dst := range []string{"usr/bin/b3sum", "bin/busybox", "usr/bin/htop"} {
		copyFile(bin, filepath.Join(root, dst), 0o755)
	}
	// ldd prints "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
	// the loader as "/lib64/ld-linux-x86-64.so.2 (0x...)".
	for _, l := range strings.Split(testutil.Run(t, "ldd", bin), "\n") {
		f := strings.Fields(l)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>":
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, "usr/lib", filepath.Base(filepath.Dir(real)), filepath.Base(lib))
		if strings.Contains(lib, "ld-linux") {
			dst = filepath.Join(root, strings.TrimPrefix(lib, "/"))
			if strings.HasPrefix(lib, "/lib64/") {
				dst = filepath.Join(root, "usr/lib64", filepath.Base(lib))
			}
		}
		copyFile(real, dst, 0o755)
	}
	// Debian's merged /usr: /bin, /lib and /lib64 are links into /usr.
	for _, l := range []string{"lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
}

// readmeOCILayout writes an OCI image layout whose one layer holds
// usr/bin/hello.
func readmeOCILayout(t *testing.T, dir string) {
	t.Helper()
	layer := readmeTar(t, map[string]string{"usr/bin/hello": "#!/bin/sh\necho hello\n"})
	blob := func(b []byte) map[string]any {
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		if err := os.MkdirAll(filepath.Join(dir, "blobs/sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs/sha256", h), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"digest": "sha256:" + h, "size": len(b)}
	}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ls := sha256.Sum256(layer)
	cfg := blob(js(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(ls[:])}}}))
	cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
	l := blob(layer)
	l["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
	m := blob(js(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": cfg, "layers": []any{l}}))
	m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
	m["platform"] = map[string]string{"os": "linux", "architecture": "amd64"}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), js(map[string]any{"schemaVersion": 2, "manifests": []any{m}}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}
