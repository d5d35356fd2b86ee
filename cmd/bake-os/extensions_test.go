package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// rootAt is debugfs's spec of ROOT in a baked generic image.
func rootAt(img string) string { return fmt.Sprintf("%s?offset=%d", img, int64(12722176)*512) }

// debugfsOut runs a debugfs request on ROOT of img.
func debugfsOut(t *testing.T, img, req string) string {
	t.Helper()
	return testutil.Run(t, "debugfs", "-R", req, rootAt(img))
}

// TestEnableExtension bakes Flatcar's extension zfs from a signed release
// server on 127.0.0.1 and reads the result back with debugfs: the
// enabled-sysext.conf, the pre-placed image (the served bytes) where the
// initrd looks for it, its link, and docker disabled with its mask. A
// release without the extension and a tampered image are refused with
// nothing written; a rebake keeps the image's lines and adds none twice.
func TestEnableExtension(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "unsquashfs", "bzip2", "debugfs", "e2fsck", "btrfs", "qemu-img")
	root := t.TempDir()
	key := releaseTree(t, root)
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	cache := filepath.Join(dir, "cache")
	flags := func(cache string, extra ...string) []string {
		return append([]string{"--release-url", srv.URL + "/{channel}", "--signing-key", key, "--cache-dir", cache, "--output-dir", "out"}, extra...)
	}
	empty := func(what string) {
		t.Helper()
		if left := testutil.Run(t, "ls", "-A", out); left != "" {
			t.Errorf("%s: left behind in the output directory: %s", what, left)
		}
	}

	// A name the release does not publish.
	_, stderr, code := run(t, dir, flags(cache, "--release", "4593.2.5", "--enable-extension", "podman")...)
	if code != 1 || !strings.Contains(stderr, "release 4593.2.5 (amd64-usr) has no extension podman") {
		t.Errorf("missing extension: exit %d: %s", code, stderr)
	}
	empty("missing extension")

	stdout, stderr, code := run(t, dir, flags(cache, "--json", "--release", "4593.2.5", "--enable-extension", "zfs", "--disable-extension", "docker")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	img := filepath.Join(out, bake.ImageName)
	served := filepath.Join(root, "stable/amd64-usr/4593.2.5/flatcar-zfs.raw")
	const placed = "/etc/flatcar/sysext/flatcar-zfs-4593.2.5.raw"
	check := func(wantConf string) {
		t.Helper()
		testutil.Run(t, "e2fsck", "-fn", rootAt(img))
		got, err := exec.Command("debugfs", "-R", "cat /etc/flatcar/enabled-sysext.conf", rootAt(img)).Output()
		if err != nil || string(got) != wantConf {
			t.Errorf("enabled-sysext.conf = %q, want %q", got, wantConf)
		}
		dump := filepath.Join(t.TempDir(), "zfs.raw")
		debugfsOut(t, img, "dump "+placed+" "+dump)
		if a, b := testutil.FileSHA256(t, dump), testutil.FileSHA256(t, served); a != b {
			t.Errorf("pre-placed %s: sha256 %s, the release serves %s", placed, a, b)
		}
		if v := debugfsOut(t, img, "stat /etc/extensions/flatcar-zfs.raw"); !strings.Contains(v, `Fast link dest: "`+placed+`"`) {
			t.Errorf("link /etc/extensions/flatcar-zfs.raw: %s", v)
		}
		if v := debugfsOut(t, img, "stat /etc/extensions/docker-flatcar.raw"); !strings.Contains(v, `Fast link dest: "/dev/null"`) {
			t.Errorf("docker-flatcar not masked: %s", v)
		}
	}
	check("zfs\n-docker\n")
	var res bake.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	written := map[string]string{}
	for _, w := range res.Written {
		written[w.Path] = w.Kind
	}
	for p, kind := range map[string]string{"/etc/flatcar/enabled-sysext.conf": "extension-config", placed: "extension-image",
		"/etc/extensions/flatcar-zfs.raw": "extension-link", "/etc/extensions/docker-flatcar.raw": "mask"} {
		if written[p] != kind {
			t.Errorf("--json written[%s] = %q, want %q", p, written[p], kind)
		}
	}
	x := res.Extensions
	if x == nil || len(x.Placed) != 1 || x.Placed[0].SHA256 != testutil.FileSHA256(t, served) || x.Placed[0].Source != srv.URL+"/stable/amd64-usr/4593.2.5/flatcar-zfs.raw" ||
		strings.Join(x.Disabled, ",") != "docker" || strings.Join(x.Masks, ",") != "docker-flatcar" {
		t.Errorf("--json extensions: %+v", x)
	}

	// A vendor disk carries the same ROOT (warm cache).
	_, stderr, code = run(t, dir, flags(cache, "--release", "4593.2.5", "--enable-extension", "zfs", "--vendor", "qemu_uefi", "--compress", "none")...)
	if code != 0 {
		t.Fatalf("--vendor qemu_uefi: exit %d: %s", code, stderr)
	}
	vraw := filepath.Join(t.TempDir(), "disk.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", filepath.Join(out, "flatcar_production_qemu_uefi_image.img"), vraw)
	if v := debugfsOut(t, vraw, "stat /etc/extensions/flatcar-zfs.raw"); !strings.Contains(v, `Fast link dest: "`+placed+`"`) {
		t.Errorf("qemu_uefi disk: link /etc/extensions/flatcar-zfs.raw: %s", v)
	}
	debugfsRegular(t, rootAt(vraw), placed)
	for _, e := range []string{"flatcar_production_qemu_uefi_image.img", "flatcar_production_qemu_uefi.sh", "flatcar_production_qemu_uefi_efi_code.qcow2", "flatcar_production_qemu_uefi_efi_vars.qcow2", "flatcar_production_qemu_uefi.README"} {
		os.Remove(filepath.Join(out, e))
	}

	// inspect shows the list and the pre-placed image.
	stdout, stderr, code = run(t, dir, "inspect", img)
	if code != 0 || !strings.Contains(stdout, "enabled: zfs") || !strings.Contains(stdout, "disabled: docker") || !strings.Contains(stdout, placed) {
		t.Errorf("inspect: exit %d: %s%s", code, stdout, stderr)
	}

	// Rebake the baked image (version.txt beside it: the release is
	// known), offline from the cache, after the user added a line: kept,
	// nothing listed twice, the image and link written anew.
	in2 := filepath.Join(dir, "in2")
	os.Mkdir(in2, 0o755)
	os.Rename(img, filepath.Join(in2, bake.ImageName))
	vt, _ := os.ReadFile(filepath.Join(root, "stable/amd64-usr/4593.2.5/version.txt"))
	os.WriteFile(filepath.Join(in2, "version.txt"), vt, 0o644)
	mine := filepath.Join(dir, "mine.conf")
	os.WriteFile(mine, []byte("# mine\nzfs\npodman # keep\n"), 0o644)
	testutil.Run(t, "debugfs", "-w", "-R", "rm /etc/flatcar/enabled-sysext.conf", rootAt(filepath.Join(in2, bake.ImageName)))
	testutil.Run(t, "debugfs", "-w", "-R", "write "+mine+" /etc/flatcar/enabled-sysext.conf", rootAt(filepath.Join(in2, bake.ImageName)))
	_, stderr, code = run(t, dir, flags(cache, "--offline", "--image", "in2/"+bake.ImageName, "--enable-extension", "zfs", "--disable-extension", "docker")...)
	if code != 0 {
		t.Fatalf("rebake: exit %d: %s", code, stderr)
	}
	check("# mine\nzfs\npodman # keep\n-docker\n")

	// Disabling zfs in that image removes what the earlier bake placed.
	in3 := filepath.Join(dir, "in3")
	os.Mkdir(in3, 0o755)
	os.Rename(img, filepath.Join(in3, bake.ImageName))
	os.WriteFile(filepath.Join(in3, "version.txt"), vt, 0o644)
	_, stderr, code = run(t, dir, flags(cache, "--offline", "--image", "in3/"+bake.ImageName, "--disable-extension", "zfs")...)
	if code != 0 {
		t.Fatalf("disabling zfs: exit %d: %s", code, stderr)
	}
	testutil.Run(t, "e2fsck", "-fn", rootAt(img))
	if conf, err := exec.Command("debugfs", "-R", "cat /etc/flatcar/enabled-sysext.conf", rootAt(img)).Output(); err != nil || string(conf) != "# mine\npodman # keep\n-docker\n-zfs\n" {
		t.Errorf("after --disable-extension zfs: enabled-sysext.conf = %q, %v", conf, err)
	}
	if ls := debugfsOut(t, img, "ls -l /etc/extensions") + debugfsOut(t, img, "ls -l /etc/flatcar/sysext"); strings.Contains(ls, "flatcar-zfs") {
		t.Errorf("zfs still placed after --disable-extension zfs:\n%s", ls)
	}
	os.Remove(img)

	// A tampered extension on the server (and a cold cache): exit 3,
	// nothing written.
	data, _ := os.ReadFile(served)
	data[len(data)/2] ^= 0xff
	os.WriteFile(served, data, 0o644)
	_, stderr, code = run(t, dir, flags(filepath.Join(dir, "cache2"), "--release", "4593.2.5", "--enable-extension", "zfs")...)
	if code != exitVerify || !strings.Contains(stderr, "flatcar-zfs.raw") {
		t.Errorf("tampered extension: exit %d: %s", code, stderr)
	}
	empty("tampered extension")
}
