package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-os/bake-os/boot"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// TestBootCommandLine checks the QEMU command line boot builds: the image
// behind a snapshot overlay, the Ignition config as fw_cfg, ssh forwarded,
// firmware variables copied, and refusals.
func TestBootCommandLine(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_qemu_uefi_image.img")
	os.WriteFile(img, append([]byte{'Q', 'F', 'I', 0xfb}, make([]byte, 508)...), 0o644)
	for _, n := range []string{"flatcar_production_qemu_uefi_efi_code.qcow2", "flatcar_production_qemu_uefi_efi_vars.qcow2"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
	}
	ign := filepath.Join(dir, "config.ign")
	os.WriteFile(ign, []byte(`{"ignition":{"version":"3.4.0"}}`), 0o644)
	tmp := t.TempDir()
	argv, err := boot.Command(boot.Options{Image: dir, Ignition: ign, SSHPort: 2345, Accel: "tcg"}, tmp)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(argv, " ")
	for _, want := range []string{
		"qemu-system-x86_64 ", "accel=tcg",
		"-drive if=virtio,file=" + img + ",format=qcow2,snapshot=on",
		"-fw_cfg name=opt/org.flatcar-linux/config,file=" + ign,
		"hostfwd=tcp:127.0.0.1:2345-:22",
		"if=pflash,unit=0,file=" + filepath.Join(dir, "flatcar_production_qemu_uefi_efi_code.qcow2") + ",format=qcow2,readonly=on",
		"if=pflash,unit=1,file=" + filepath.Join(tmp, "efi_vars") + ",format=qcow2",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(tmp, "efi_vars")); string(b) != "flatcar_production_qemu_uefi_efi_vars.qcow2" {
		t.Errorf("vars not copied: %q", b)
	}
	// Refusals: a vmdk, a directory without a disk, an Ignition path QEMU
	// cannot take.
	vmdk := filepath.Join(dir, "x.vmdk")
	os.WriteFile(vmdk, []byte("KDMV\x01\x00\x00\x00"), 0o644)
	for _, o := range []boot.Options{{Image: vmdk}, {Image: t.TempDir()}, {Image: img, Ignition: filepath.Join(dir, "a,b.ign")}} {
		if _, err := boot.Command(o, tmp); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, _, code := run(t, dir, "boot", img, "--accel", "hvf"); code != exitUsage {
		t.Errorf("--accel hvf: exit %d", code)
	}
}

// TestBootBakedImage bakes a sysext into a generated image, writes the
// qemu_uefi qcow2, and boots it under QEMU with a Debian kernel and a
// busybox initramfs whose /init shows, from inside the guest, that ROOT,
// USR-A and OEM mount, the sysext's link resolves and its image mounts
// with the right extension-release, and the baked Ignition config is where
// Flatcar's initrd reads it (OEM /config.ign). It runs in .ci/run's boot stage
// (BAKE_TEST_BOOT=1): it needs qemu-system-x86, linux-image-cloud-amd64
// and busybox-static.
func TestBootBakedImage(t *testing.T) {
	if os.Getenv("BAKE_TEST_BOOT") == "" {
		t.Skip("boot tests run in .ci/run's boot stage (BAKE_TEST_BOOT=1)")
	}
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs", "qemu-system-x86_64", "cpio", "busybox")
	kernel, modDir := debianKernel(t)
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\n"
	if err := testimage.Sysext(ctx, filepath.Join(dir, "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(ctx, filepath.Join(dir, "hello.raw"), "hello", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n",
		map[string]string{"usr/bin/hello": "#!/bin/sh\necho hello\n"}); err != nil {
		t.Fatal(err)
	}
	ign := `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA test"]}]}}`
	if err := os.WriteFile(filepath.Join(dir, "config.ign"), []byte(ign), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, dir, "--image", img, "--output-dir", "out", "--vendor", "qemu_uefi", "--ignition", "config.ign", "hello:hello.raw"); code != 0 {
		t.Fatalf("bake: exit %d: %s", code, stderr)
	}
	initrd := busyboxInitramfs(t, modDir, bootCheckScript)
	before := testutil.FileSHA256(t, filepath.Join(dir, "out", "flatcar_production_qemu_uefi_image.img"))

	var console bytes.Buffer
	w := &lineLogger{t: t, buf: &console}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := newRootCmd(&deps{stdout: w, stderr: w, cwd: dir})
	cmd.SetArgs([]string{"boot", "out", "--kernel", kernel, "--initrd", initrd, "--ssh-port", "-1", "--memory", "1024", "--cpus", "2",
		"--append", "console=ttyS0 panic=-1 loglevel=4", "--accel", "tcg"}) // nested KVM here hangs

	err := cmd.ExecuteContext(ctx)
	t.Logf("boot took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	out := console.String()
	for _, want := range []string{
		"BAKE-CHECK ROOT mounted ext4",
		"BAKE-CHECK USR-A mounted btrfs ID=flatcar",
		"BAKE-CHECK OEM mounted btrfs oem-release ID=qemu",
		"BAKE-CHECK link /etc/extensions/hello.raw -> /opt/extensions/hello.raw",
		"BAKE-CHECK sysext mounted ID=flatcar SYSEXT_LEVEL=1.0",
		"BAKE-CHECK hello runs: hello",
		fmt.Sprintf("BAKE-CHECK config.ign %d bytes", len(ign)),
		"BAKE-CHECK done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the guest did not print %q", want)
		}
	}
	if after := testutil.FileSHA256(t, filepath.Join(dir, "out", "flatcar_production_qemu_uefi_image.img")); after != before {
		t.Error("booting modified the image")
	}
}

// bootCheckScript is the guest's /init: it mounts the bake's partitions
// and prints what it finds, then powers off.
const bootCheckScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m || echo "BAKE-CHECK insmod $m failed"; done
i=0; while [ ! -b /dev/vda9 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
mkdir -p /sysroot /sysusr /oem /ext
mount -t ext4 -o ro /dev/vda9 /sysroot && echo "BAKE-CHECK ROOT mounted ext4"
mount -t btrfs -o ro /dev/vda3 /sysusr && echo "BAKE-CHECK USR-A mounted btrfs $(grep ^ID= /sysusr/lib/os-release)"
mount -t btrfs -o ro /dev/vda6 /oem && echo "BAKE-CHECK OEM mounted btrfs oem-release $(grep ^ID= /oem/oem-release)"
link=$(readlink /sysroot/etc/extensions/hello.raw)
echo "BAKE-CHECK link /etc/extensions/hello.raw -> $link"
case "$link" in /oem/*) target="$link" ;; *) target="/sysroot$link" ;; esac
if mount -t squashfs -o loop,ro "$target" /ext; then
  echo "BAKE-CHECK sysext mounted $(grep ^ID= /ext/usr/lib/extension-release.d/extension-release.hello) $(grep ^SYSEXT_LEVEL= /ext/usr/lib/extension-release.d/extension-release.hello)"
  echo "BAKE-CHECK hello runs: $(sh /ext/usr/bin/hello)"
fi
[ -e /oem/config.ign ] && echo "BAKE-CHECK config.ign $(wc -c < /oem/config.ign) bytes"
echo "BAKE-CHECK done"
reboot -f
`

// debianKernel returns the installed Debian cloud kernel and its module
// directory.
func debianKernel(t *testing.T) (kernel, modDir string) {
	t.Helper()
	ks, _ := filepath.Glob("/boot/vmlinuz-*-cloud-amd64")
	if len(ks) == 0 {
		ks, _ = filepath.Glob("/boot/vmlinuz-*")
	}
	if len(ks) == 0 {
		t.Fatal("no kernel in /boot: install linux-image-cloud-amd64")
	}
	sort.Strings(ks)
	kernel = ks[len(ks)-1]
	modDir = filepath.Join("/lib/modules", strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-"))
	if _, err := os.Stat(filepath.Join(modDir, "modules.dep")); err != nil {
		t.Fatalf("modules of %s: %v", kernel, err)
	}
	return kernel, modDir
}

// busyboxInitramfs makes a newc cpio with busybox, init and the modules
// (with their dependencies, in load order) for virtio disks, btrfs,
// squashfs and loop devices.
func busyboxInitramfs(t *testing.T, modDir, init string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "lib/modules"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	copyTo(t, bb, filepath.Join(root, "bin/busybox"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "init"), []byte(init), 0o755); err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	f, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mod, rest, _ := strings.Cut(sc.Text(), ":")
		deps[mod] = strings.Fields(rest)
	}
	f.Close()
	byName := map[string]string{}
	for m := range deps {
		byName[strings.TrimSuffix(filepath.Base(m), ".ko")] = m
	}
	var order []string
	seen := map[string]bool{}
	var visit func(m string)
	visit = func(m string) {
		if seen[m] {
			return
		}
		seen[m] = true
		d := deps[m]
		for i := len(d) - 1; i >= 0; i-- { // modules.dep lists the deepest last
			visit(d[i])
		}
		order = append(order, m)
	}
	for _, name := range []string{"virtio_pci", "virtio_blk", "loop", "squashfs", "btrfs"} {
		m, ok := byName[name]
		if !ok {
			continue // built in
		}
		visit(m)
	}
	var list []string
	for _, m := range order {
		copyTo(t, filepath.Join(modDir, m), filepath.Join(root, "lib/modules", filepath.Base(m)), 0o644)
		list = append(list, filepath.Base(m))
	}
	os.WriteFile(filepath.Join(root, "modules.list"), []byte(strings.Join(list, "\n")+"\n"), 0o644)
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	cmd := exec.Command("sh", "-c", "find . | sort | cpio -o -H newc --quiet > "+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v %s", err, b)
	}
	return out
}

func copyTo(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// lineLogger copies the guest console into the test log line by line.
type lineLogger struct {
	t    *testing.T
	mu   sync.Mutex
	buf  *bytes.Buffer
	part []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.t.Log(strings.TrimRight(string(l.part[:i]), "\r"))
		l.part = l.part[i+1:]
	}
	return len(p), nil
}
