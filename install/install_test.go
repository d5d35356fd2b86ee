package install_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/install"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/testimage"
)

// The generated image and sysext are shared by every test of the package.
var fixture struct {
	once sync.Once
	dir  string
	img  string // flatcar_production_image.bin (8.4 GB, sparse)
	ext  string // a sysext for ROOT
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func inputs(t *testing.T) (img, ext string) {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs", "sgdisk", "e2fsck", "btrfs", "dumpe2fs")
	fixture.once.Do(func() {
		ctx := context.Background()
		if fixture.dir, fixture.err = os.MkdirTemp("", "install-test-"); fixture.err != nil {
			return
		}
		fixture.img = filepath.Join(fixture.dir, bake.ImageName)
		if fixture.err = testimage.Generate(ctx, fixture.img, testimage.Options{UUIDSeed: "install"}); fixture.err != nil {
			return
		}
		fixture.ext = filepath.Join(fixture.dir, "hello-1.0-x86-64.raw")
		fixture.err = testimage.Sysext(ctx, fixture.ext, "hello", "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n",
			map[string]string{"usr/bin/hello": "#!/bin/sh\necho hello\n"})
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.img, fixture.ext
}

// options installs the shared image with the hello sysext in ROOT onto dev.
func options(t *testing.T, dev string) install.Options {
	img, ext := inputs(t)
	return install.Options{
		Device: dev, Source: img, ScratchDir: t.TempDir(),
		Bake: func(ctx context.Context, dir string, written func(string, int64)) (string, error) {
			res, err := bake.Run(ctx, bake.Options{Image: img, OutputDir: dir, Epoch: 1700000000,
				Sysexts: []bake.Sysext{{Name: "hello", File: ext}}, WorkingCopyWritten: written})
			if err != nil {
				return "", err
			}
			return res.Image, nil
		},
	}
}

// newTarget makes a sparse file of size bytes with garbage planted where
// the install must leave zeros, and returns the garbage offsets.
func newTarget(t *testing.T, size int64) (string, []int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	base := flatcar.Layouts["base"].DiskBytes()
	junk := []int64{
		512 * 100,                    // between the primary GPT and partition 1
		512*6299648 + 1<<20,          // inside USR-B (empty in the image)
		512*12722176 + 900<<20,       // in ROOT, a hole of the image
		base - 4096,                  // the image's own backup header slot
		min(size, base+1<<20) - 4096, // past the image, or its last block
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range junk {
		if off+4096 <= size {
			f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), off)
		}
	}
	return p, junk
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	return testutil.Run(t, name, args...)
}

// partRange returns partition n of disk for the filesystem checkers: the
// partition node of a loop device, or a sparse copy of the range of a
// file (the table is read by sgdisk, not by our code).
func partRange(t *testing.T, disk string, n int) string {
	t.Helper()
	if st, err := os.Stat(disk); err == nil && st.Mode()&os.ModeDevice != 0 {
		return partition(t, disk, n)
	}
	info := run(t, "sgdisk", "-i", strconv.Itoa(n), disk)
	var first, last int64
	for _, l := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(l, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch strings.TrimSpace(k) {
		case "First sector":
			first, _ = strconv.ParseInt(f[0], 10, 64)
		case "Last sector":
			last, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	if last <= first {
		t.Fatalf("sgdisk -i %d: %s", n, info)
	}
	src, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), fmt.Sprintf("part%d", n))
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	size := (last - first + 1) * 512
	dst.Truncate(size)
	if err := sparse.CopyRange(context.Background(), dst, src, 0, first*512, size, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

// judge checks a written disk with independent tools: sgdisk -v, e2fsck
// on ROOT with the sysext in it, btrfs check on OEM; and that the result's
// digest is what the disk holds at its extents.
func judge(t *testing.T, disk string, res *install.Result) {
	t.Helper()
	if v := run(t, "sgdisk", "-v", disk); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", disk, v)
	}
	root := partRange(t, disk, 9)
	run(t, "e2fsck", "-fn", root)
	if v := run(t, "debugfs", "-R", "stat /opt/extensions/hello-1.0-x86-64.raw", root); !strings.Contains(v, "Type: regular") {
		t.Errorf("sysext missing from ROOT: %s", v)
	}
	if v := run(t, "debugfs", "-R", "stat /etc/extensions/hello.raw", root); !strings.Contains(v, "/opt/extensions/hello-1.0-x86-64.raw") {
		t.Errorf("sysext link missing from ROOT: %s", v)
	}
	run(t, "btrfs", "check", partRange(t, disk, 6))
	if !res.Verified || res.BytesWritten == 0 || len(res.Extents) == 0 {
		t.Errorf("result %+v", res)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	var n int64
	for _, e := range res.Extents {
		b := make([]byte, e.Length)
		if _, err := f.ReadAt(b, e.Offset); err != nil {
			t.Fatal(err)
		}
		h.Write(b)
		n += e.Length
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != res.SHA256 || n != res.BytesWritten {
		t.Errorf("disk holds sha256 %s (%d bytes) at the extents, result says %s (%d)", got, n, res.SHA256, res.BytesWritten)
	}
}

func zerosAt(t *testing.T, disk string, offs []int64) {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 4096)
	for _, off := range offs {
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		if !sparse.IsZero(b) {
			t.Errorf("%s: old data left at %d", disk, off)
		}
	}
}

func TestInstallToFile(t *testing.T) {
	const size = 10 << 30
	disk, junk := newTarget(t, size)
	start := time.Now()
	res, err := install.Run(context.Background(), options(t, disk))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("installed to a %d GiB file in %.1fs (%d bytes in %d extents, %d zeroed; write+verify %.1fs)",
		size>>30, time.Since(start).Seconds(), res.BytesWritten, len(res.Extents), res.BytesZeroed, res.Seconds)
	judge(t, disk, res)
	zerosAt(t, disk, junk[:4])
	// The last planted block lies past the image and outside every
	// partition: it is not the install's to zero.
	if res.Size != size || res.RootSize != 3653632*512 || res.ImageSize != flatcar.Layouts["base"].DiskBytes() {
		t.Errorf("result %+v", res)
	}
	f, _ := os.Open(disk)
	defer f.Close()
	if n, _ := sparse.DataBytes(f, 0, size); n > 2*res.BytesWritten+(64<<20) {
		t.Errorf("target holds %d data bytes for %d written: zeros were written instead of holes", n, res.BytesWritten)
	}
}

func TestInstallGrowRoot(t *testing.T) {
	const size = 9 << 30
	disk, junk := newTarget(t, size)
	o := options(t, disk)
	o.GrowRoot = true
	start := time.Now()
	res, err := install.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("installed with --grow-root in %.1fs", time.Since(start).Seconds())
	judge(t, disk, res)
	zerosAt(t, disk, junk)
	// ROOT ends at the last usable LBA and its ext4 fills it.
	wantSectors := (int64(size/512) - 34 - 12722176) / 2048 * 2048
	if res.RootSize != wantSectors*512 {
		t.Errorf("ROOT %d bytes, want %d", res.RootSize, wantSectors*512)
	}
	info := run(t, "dumpe2fs", "-h", partRange(t, disk, 9))
	var blocks, bsize int64
	for _, l := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "Block count":
			blocks, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		case "Block size":
			bsize, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if blocks*bsize != wantSectors*512/bsize*bsize {
		t.Errorf("ext4 has %d blocks of %d, want it to fill %d bytes", blocks, bsize, wantSectors*512)
	}
}

func TestRefusesTooSmall(t *testing.T) {
	img, _ := inputs(t)
	disk := filepath.Join(t.TempDir(), "small.img")
	data := bytes.Repeat([]byte("keep me "), 1<<17) // 1 MiB
	os.WriteFile(disk, data, 0o644)
	os.Truncate(disk, 4<<30)
	for _, source := range []string{img, ""} { // "" as for a downloaded release: found after the bake
		o := options(t, disk)
		o.Source = source
		baked := false
		bakeFn := o.Bake
		o.Bake = func(ctx context.Context, dir string, w func(string, int64)) (string, error) {
			baked = true
			return bakeFn(ctx, dir, w)
		}
		_, err := install.Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "too small") || !strings.Contains(err.Error(), "4.0 GiB") {
			t.Errorf("source %q: error %v, want too small", source, err)
		}
		if baked != (source == "") {
			t.Errorf("source %q: baked %v", source, baked)
		}
		got := make([]byte, len(data))
		f, _ := os.Open(disk)
		f.ReadAt(got, 0)
		st, _ := f.Stat()
		f.Close()
		if !bytes.Equal(got, data) || st.Size() != 4<<30 {
			t.Errorf("source %q: the refused target was changed", source)
		}
	}
}

func TestRefusesBadTargets(t *testing.T) {
	img, _ := inputs(t)
	dir := t.TempDir()
	odd := filepath.Join(dir, "odd.img")
	os.WriteFile(odd, make([]byte, 1000), 0o644)
	for name, c := range map[string]struct{ dev, want string }{
		"missing":     {filepath.Join(dir, "nope.img"), "does not exist"},
		"directory":   {dir, "neither a block device nor a regular file"},
		"char device": {"/dev/null", "neither a block device nor a regular file"},
		"odd size":    {odd, "not a multiple of 512"},
		"the input":   {img, "is the input image"},
	} {
		t.Run(name, func(t *testing.T) {
			o := options(t, c.dev)
			o.Bake = func(context.Context, string, func(string, int64)) (string, error) { t.Fatal("baked"); return "", nil }
			if _, err := install.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestConfirmationRefusedWritesNothing(t *testing.T) {
	disk, _ := newTarget(t, 9<<30)
	before := testutil.DataSHA256(t, disk)
	o := options(t, disk)
	var asked install.Device
	o.Confirm = func(d install.Device) error { asked = d; return fmt.Errorf("not confirmed") }
	if _, err := install.Run(context.Background(), o); err == nil || err.Error() != "not confirmed" {
		t.Fatalf("error %v", err)
	}
	if asked.Size != 9<<30 || asked.Block || !strings.Contains(asked.String(), "9.0 GiB") {
		t.Errorf("asked about %+v (%s)", asked, asked)
	}
	if testutil.DataSHA256(t, disk) != before {
		t.Error("target changed")
	}
}

// --- root: loop devices ---

// requireRoot skips without root or loop devices, and fails instead when
// BAKE_TEST_REQUIRE_TOOLS=all (CI runs as root).
func requireRoot(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else if _, err := os.Stat("/dev/loop-control"); err != nil {
		why = "needs loop devices"
	}
	if why == "" {
		testutil.RequireTool(t, "losetup", "partx", "mount", "umount", "mkfs.ext4", "sgdisk")
		return
	}
	if strings.Contains(","+os.Getenv("BAKE_TEST_REQUIRE_TOOLS")+",", ",all,") {
		t.Fatalf("this test %s (BAKE_TEST_REQUIRE_TOOLS=all)", why)
	}
	t.Skip(why)
}

// loop attaches file (with partition scanning) and returns the device.
func loop(t *testing.T, file string) string {
	t.Helper()
	dev := strings.TrimSpace(run(t, "losetup", "--find", "--show", "--partscan", file))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// partition returns the node of partition n of the loop device dev. Some
// kernels (without GPT parsing) scan no partitions: then partx adds them
// from the table, as it does for a running system.
func partition(t *testing.T, dev string, n int) string {
	t.Helper()
	p := fmt.Sprintf("%sp%d", dev, n)
	for i := 0; i < 25; i++ {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	run(t, "partx", "-a", dev)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", p)
	return ""
}

func mountRO(t *testing.T, dev string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "mount", "-o", "ro", dev, dir)
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// smallDisk makes a 64 MiB file with one ext4 partition.
func smallDisk(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "small.img")
	os.WriteFile(f, nil, 0o644)
	os.Truncate(f, 64<<20)
	run(t, "sgdisk", "-n", "1:2048:+32M", f)
	return f
}

func TestRefusesBusyLoopDevices(t *testing.T) {
	requireRoot(t)
	inputs(t)
	noBake := func(o install.Options) install.Options {
		o.Bake = func(context.Context, string, func(string, int64)) (string, error) { t.Error("baked"); return "", nil }
		return o
	}
	t.Run("partition mounted", func(t *testing.T) {
		dev := loop(t, smallDisk(t))
		p1 := partition(t, dev, 1)
		run(t, "mkfs.ext4", "-q", p1)
		mnt := mountRO(t, p1)
		_, err := install.Run(context.Background(), noBake(options(t, dev)))
		if err == nil || !strings.Contains(err.Error(), "p1 is mounted on "+mnt) {
			t.Errorf("error %v", err)
		}
		// The disk holding a mount point is found as a system disk.
		if _, err := install.Run(context.Background(), noBake(options(t, p1))); err == nil || !strings.Contains(err.Error(), "is a partition of") {
			t.Errorf("partition as target: %v", err)
		}
	})
	t.Run("whole disk mounted", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "fs.img")
		os.WriteFile(f, nil, 0o644)
		os.Truncate(f, 32<<20)
		run(t, "mkfs.ext4", "-q", f)
		dev := loop(t, f)
		mountRO(t, dev)
		if _, err := install.Run(context.Background(), noBake(options(t, dev))); err == nil || !strings.Contains(err.Error(), "is mounted on") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("opened exclusively", func(t *testing.T) {
		f := smallDisk(t)
		os.Truncate(f, 9<<30)
		dev := loop(t, f)
		fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if _, err := install.Run(context.Background(), noBake(options(t, dev))); err == nil || !strings.Contains(err.Error(), "is in use") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("active swap", func(t *testing.T) {
		testutil.RequireTool(t, "mkswap", "swapon", "swapoff")
		f := smallDisk(t)
		os.Truncate(f, 9<<30)
		dev := loop(t, f)
		run(t, "mkswap", dev)
		run(t, "swapon", dev)
		defer exec.Command("swapoff", dev).Run()
		if _, err := install.Run(context.Background(), noBake(options(t, dev))); err == nil || !strings.Contains(err.Error(), "is active swap") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		f := smallDisk(t)
		os.Truncate(f, 9<<30)
		dev := strings.TrimSpace(run(t, "losetup", "--find", "--show", "--read-only", f))
		defer exec.Command("losetup", "-d", dev).Run()
		if _, err := install.Run(context.Background(), noBake(options(t, dev))); err == nil || !strings.Contains(err.Error(), "is read-only") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("backing file", func(t *testing.T) {
		f := smallDisk(t)
		dev := loop(t, f)
		if _, err := install.Run(context.Background(), noBake(options(t, f))); err == nil || !strings.Contains(err.Error(), "backing file of "+dev) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("device-mapper holder", func(t *testing.T) {
		requireDeviceMapper(t)
		f := smallDisk(t)
		os.Truncate(f, 9<<30)
		dev := loop(t, f)
		before := testutil.DataSHA256(t, f)
		// A linear target over the loop device's first MiB makes the
		// kernel list dm-N in the loop device's holders/.
		name := fmt.Sprintf("bake-os-test-%d", os.Getpid())
		out, err := exec.Command("dmsetup", "create", name, "--noudevsync", "--table", "0 2048 linear "+dev+" 0").CombinedOutput()
		if err != nil {
			t.Fatalf("dmsetup create: %v\n%s", err, out)
		}
		// Registered after loop's, so it runs first: the loop device
		// cannot be detached while dm holds it.
		t.Cleanup(func() {
			if out, err := exec.Command("dmsetup", "remove", "--retry", "--noudevsync", name).CombinedOutput(); err != nil {
				t.Errorf("dmsetup remove %s: %v\n%s", name, err, out)
			}
		})
		holders, _ := os.ReadDir(filepath.Join("/sys/class/block", filepath.Base(dev), "holders"))
		if len(holders) != 1 || !strings.HasPrefix(holders[0].Name(), "dm-") {
			t.Fatalf("%s holders: %v, want one dm-N", dev, holders)
		}
		_, err = install.Run(context.Background(), noBake(options(t, dev)))
		want := "/dev/" + filepath.Base(dev) + " is held by " + holders[0].Name()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
		if testutil.DataSHA256(t, f) != before {
			t.Error("the refused disk was changed")
		}
	})
}

// requireDeviceMapper loads device-mapper when the kernel has it as a
// module. A kernel without it (neither built in nor a module: modprobe
// says "not found") cannot run the test on this machine whatever is
// installed, so the test skips there; any other failure fails it under
// BAKE_TEST_REQUIRE_TOOLS=all.
func requireDeviceMapper(t *testing.T) {
	t.Helper()
	testutil.RequireTool(t, "dmsetup", "modprobe")
	has := func() bool {
		misc, _ := os.ReadFile("/proc/misc")
		return strings.Contains(string(misc), " device-mapper\n")
	}
	if has() {
		return
	}
	out, err := exec.Command("modprobe", "dm_mod").CombinedOutput()
	if err == nil && has() {
		return
	}
	why := fmt.Sprintf("modprobe dm_mod: %v: %s", err, strings.TrimSpace(string(out)))
	if strings.Contains(string(out), "not found") {
		t.Skipf("the running kernel has no device-mapper (%s)", why)
	}
	testutil.Require(t, false, "device-mapper", why)
}

func TestRefusesSystemDisk(t *testing.T) {
	requireRoot(t)
	inputs(t)
	// The disk holding / (when / is on a block device here).
	var rootDev string
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == "/" {
			if _, post, ok := strings.Cut(l, " - "); ok && len(strings.Fields(post)) > 1 {
				rootDev = strings.Fields(post)[1]
			}
		}
	}
	st, err := os.Stat(rootDev)
	if err != nil || st.Mode()&os.ModeDevice == 0 {
		t.Skipf("/ is not on a block device here (%q)", rootDev)
	}
	// Give the whole disk, so that the partition check does not answer.
	sysfs, _ := filepath.EvalSymlinks(filepath.Join("/sys/class/block", filepath.Base(rootDev)))
	if _, err := os.Stat(filepath.Join(sysfs, "partition")); err == nil {
		rootDev = "/dev/" + filepath.Base(filepath.Dir(sysfs))
	}
	o := options(t, rootDev)
	o.Bake = func(context.Context, string, func(string, int64)) (string, error) { t.Fatal("baked"); return "", nil }
	_, err = install.Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "holds the running system") {
		t.Errorf("error %v", err)
	}
}

func TestInstallToLoopDevice(t *testing.T) {
	requireRoot(t)
	inputs(t)
	backing := filepath.Join(t.TempDir(), "loop.img")
	os.WriteFile(backing, bytes.Repeat([]byte{0x5a}, 1<<20), 0o644) // an old MBR and GPT area
	os.Truncate(backing, 9<<30)
	dev := loop(t, backing)
	start := time.Now()
	res, err := install.Run(context.Background(), options(t, dev))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("installed to %s in %.1fs (write+verify %.1fs)", dev, time.Since(start).Seconds(), res.Seconds)
	if !res.BlockDevice || res.Size != 9<<30 {
		t.Errorf("result %+v", res)
	}
	judge(t, dev, res)
	// The kernel re-read the table: partition 9 is there.
	run(t, "e2fsck", "-fn", partition(t, dev, 9))
	// Zeroing unmapped: the backing file stayed sparse.
	f, _ := os.Open(backing)
	defer f.Close()
	if n, _ := sparse.DataBytes(f, 0, 9<<30); n > 2*res.BytesWritten+(64<<20) {
		t.Errorf("backing file holds %d data bytes for %d written", n, res.BytesWritten)
	}
}

// cancelOnWrite cancels the run once the first bytes reach the target.
type cancelOnWrite struct{ cancel context.CancelFunc }

func (r cancelOnWrite) Counter(desc string, _ int64) progress.Counter {
	if strings.HasPrefix(desc, "writing ") {
		return cancelCounter(r)
	}
	return progress.Nop().Counter(desc, 0)
}

type cancelCounter cancelOnWrite

func (c cancelCounter) Add(int64) { c.cancel() }
func (c cancelCounter) Done()     {}

// An install interrupted while writing leaves no valid partition table
// (neither the old one nor a half-written new one), says so, and leaves
// no scratch files.
func TestInterruptedInstallLeavesNoTable(t *testing.T) {
	disk, _ := newTarget(t, 9<<30)
	run(t, "sgdisk", "-n", "1:2048:+100M", disk) // an old table
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := options(t, disk)
	o.Reporter = cancelOnWrite{cancel}
	_, err := install.Run(ctx, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "partly written") {
		t.Fatalf("error %v", err)
	}
	if _, err := gpt.Open(disk); err == nil {
		t.Error("the interrupted disk has a valid GPT")
	}
	if v, _ := exec.Command("sgdisk", "-p", disk).CombinedOutput(); strings.Contains(string(v), "Number  Start") && strings.Contains(string(v), "   1  ") {
		t.Errorf("the old table survived:\n%s", v)
	}
	ents, _ := os.ReadDir(o.ScratchDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".bake-os-tmp") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// bakeThen is options(t, dev) whose Bake calls after(image) once the bake
// succeeded.
func bakeThen(t *testing.T, dev string, after func(image string) error) install.Options {
	o := options(t, dev)
	bakeFn := o.Bake
	o.Bake = func(ctx context.Context, dir string, w func(string, int64)) (string, error) {
		image, err := bakeFn(ctx, dir, w)
		if err != nil {
			return "", err
		}
		return image, after(image)
	}
	return o
}

// Writing while decoding gives the same disk as writing after the bake.
func TestStreamedEqualsWrittenAfterBake(t *testing.T) {
	const size = 9 << 30
	var disks []string
	for _, noStream := range []bool{false, true} {
		disk, _ := newTarget(t, size)
		o := options(t, disk)
		o.NoStream = noStream
		res, err := install.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		judge(t, disk, res)
		if noStream && (res.WrittenAhead != 0 || res.ScratchFreed != 0) ||
			!noStream && (res.WrittenAhead == 0 || res.WrittenAhead >= res.BytesWritten || res.ScratchFreed == 0 || res.ScratchFreed > res.WrittenAhead) {
			t.Errorf("no-stream %v: %d of %d bytes written while decoding, %d freed from the scratch copy", noStream, res.WrittenAhead, res.BytesWritten, res.ScratchFreed)
		}
		t.Logf("no-stream %v: %d of %d bytes written while decoding, %d freed from the scratch copy", noStream, res.WrittenAhead, res.BytesWritten, res.ScratchFreed)
		disks = append(disks, disk)
	}
	if testutil.DataSHA256(t, disks[0]) != testutil.DataSHA256(t, disks[1]) {
		if out, err := exec.Command("cmp", disks[0], disks[1]).CombinedOutput(); err != nil {
			t.Errorf("streamed and no-stream disks differ: %v %s", err, out)
		}
	}
}

// An extent written while decoding that the bake (or anything after the
// decoder) changed is written again in the ESP, which stays in the
// scratch copy: the disk holds the baked image. In USR-A, dropped from
// the scratch copy once written, such a change cannot be honoured and is
// refused.
func TestStreamedExtentChangedAfterDecoding(t *testing.T) {
	for _, part := range []flatcar.PartitionSpec{flatcar.BaseLayout[0], flatcar.BaseLayout[2]} {
		t.Run(part.Label, func(t *testing.T) {
			disk, _ := newTarget(t, 9<<30)
			var at int64
			mark := bytes.Repeat([]byte{0xee}, 4096)
			o := bakeThen(t, disk, func(image string) error {
				f, err := os.OpenFile(image, os.O_RDWR, 0)
				if err != nil {
					return err
				}
				defer f.Close()
				exts, err := sparse.DataExtents(f, int64(part.FirstSector)*512, int64(part.Sectors)*512)
				if err != nil {
					return err
				}
				at = int64(part.FirstSector)*512 + 1<<20
				if len(exts) > 0 {
					at = exts[0].Off
				}
				_, err = f.WriteAt(mark, at)
				return err
			})
			res, err := install.Run(context.Background(), o)
			if part.Label == flatcar.LabelUSRA {
				if err == nil || !strings.Contains(err.Error(), "the bake edited them") || !strings.Contains(err.Error(), "partly written") {
					t.Errorf("error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.WrittenAhead == 0 {
				t.Error("nothing was written while decoding")
			}
			f, _ := os.Open(disk)
			defer f.Close()
			got := make([]byte, len(mark))
			f.ReadAt(got, at)
			if !bytes.Equal(got, mark) {
				t.Errorf("the disk holds the decoded bytes at %d, not the baked image's", at)
			}
			judge(t, disk, res)
		})
	}
}

// A bake failing after the decoding started writing leaves no valid table
// and says so; with NoStream it leaves the disk as it was.
func TestBakeFailingAfterDecoding(t *testing.T) {
	for _, noStream := range []bool{false, true} {
		disk, _ := newTarget(t, 9<<30)
		run(t, "sgdisk", "-n", "1:2048:+100M", disk) // an old table
		before := testutil.DataSHA256(t, disk)
		o := bakeThen(t, disk, func(string) error { return errors.New("planted bake failure") })
		o.NoStream = noStream
		_, err := install.Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "planted bake failure") {
			t.Fatalf("no-stream %v: error %v", noStream, err)
		}
		partly := strings.Contains(err.Error(), "partly written and has no valid partition table")
		_, gptErr := gpt.Open(disk)
		if noStream {
			if partly || testutil.DataSHA256(t, disk) != before {
				t.Errorf("no-stream: the disk was changed (error %v)", err)
			}
		} else if !partly || gptErr == nil {
			t.Errorf("streamed: error %v, table error %v", err, gptErr)
		}
	}
}

// From a .bin.bz2 the writing ahead follows the decoder: the disk equals
// the one written after the bake, and USR-A's data left the scratch copy.
func TestStreamedFromBzip2(t *testing.T) {
	img, ext := inputs(t)
	testutil.RequireTool(t, "bzip2")
	bz := filepath.Join(t.TempDir(), bake.ImageName+".bz2")
	if err := testimage.Bzip2(context.Background(), img, bz); err != nil {
		t.Fatal(err)
	}
	var disks []string
	for _, noStream := range []bool{false, true} {
		disk, _ := newTarget(t, 9<<30)
		o := options(t, disk)
		o.Source, o.NoStream = bz, noStream
		o.Bake = func(ctx context.Context, dir string, w func(string, int64)) (string, error) {
			res, err := bake.Run(ctx, bake.Options{Image: bz, OutputDir: dir, Epoch: 1700000000,
				Sysexts: []bake.Sysext{{Name: "hello", File: ext}}, WorkingCopyWritten: w})
			if err != nil {
				return "", err
			}
			return res.Image, nil
		}
		res, err := install.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		judge(t, disk, res)
		t.Logf("no-stream %v: %d of %d bytes written while decoding, %d freed from the scratch copy", noStream, res.WrittenAhead, res.BytesWritten, res.ScratchFreed)
		if noStream != (res.ScratchFreed == 0) || noStream != (res.WrittenAhead == 0) {
			t.Errorf("no-stream %v: result %+v", noStream, res)
		}
		disks = append(disks, disk)
	}
	if testutil.DataSHA256(t, disks[0]) != testutil.DataSHA256(t, disks[1]) {
		if out, err := exec.Command("cmp", disks[0], disks[1]).CombinedOutput(); err != nil {
			t.Errorf("streamed and no-stream disks differ: %v %s", err, out)
		}
	}
}
