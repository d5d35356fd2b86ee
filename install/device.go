package install

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Device describes an install target.
type Device struct {
	Path  string // as given
	Real  string // symlinks resolved (/dev/disk/by-id/... -> /dev/sdX)
	Block bool   // a block device; else a regular file
	Name  string // kernel name (sda, nvme0n1, loop3); "" for a file
	Size  int64  // bytes
	Model string // /sys/class/block/NAME/device/model, when there is one
	rdev  uint64
	info  fs.FileInfo // the node or file inspected
}

// String names the device for the confirmation prompt and messages.
func (d Device) String() string {
	s := fmt.Sprintf("%s (%s", d.Path, humanBytes(d.Size))
	if d.Model != "" {
		s += ", " + d.Model
	}
	if d.Real != d.Path {
		s += ", " + d.Real
	}
	return s + ")"
}

// sysBlock is sysfs's block device class.
const sysBlock = "/sys/class/block"

// Inspect looks at path and refuses a target that must not be written
// (see the package comment). It opens nothing for writing.
func Inspect(path string) (Device, error) {
	d := Device{Path: path}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return d, fmt.Errorf("device %s does not exist (a disk-image file target must exist already: create it with truncate -s SIZE)", path)
		}
		return d, fmt.Errorf("device %s: %w", path, err)
	}
	d.Real = real
	st, err := os.Stat(real)
	if err != nil {
		return d, fmt.Errorf("device %s: %w", path, err)
	}
	d.info = st
	switch {
	case st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0:
		d.Block = true
		return d, inspectBlock(&d, st)
	case st.Mode().IsRegular():
		d.Size = st.Size()
		if d.Size%sector != 0 {
			return d, fmt.Errorf("device %s: file size %d is not a multiple of %d bytes", path, d.Size, sector)
		}
		if loop := loopBacking(real); loop != "" {
			return d, fmt.Errorf("device %s is the backing file of %s: detach it (losetup -d %s) or give %s as --device", path, loop, loop, loop)
		}
		return d, nil
	}
	return d, fmt.Errorf("device %s is neither a block device nor a regular file", path)
}

func inspectBlock(d *Device, st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("device %s: no device number", d.Path)
	}
	d.rdev = uint64(sys.Rdev)
	maj, min := unix.Major(d.rdev), unix.Minor(d.rdev)
	link, err := filepath.EvalSymlinks(fmt.Sprintf("/sys/dev/block/%d:%d", maj, min))
	if err != nil {
		return fmt.Errorf("device %s: not in sysfs: %w", d.Path, err)
	}
	d.Name = filepath.Base(link)
	if _, err := os.Stat(filepath.Join(link, "partition")); err == nil {
		return fmt.Errorf("device %s is a partition of %s: give the whole disk (/dev/%s)", d.Path, filepath.Base(filepath.Dir(link)), filepath.Base(filepath.Dir(link)))
	}
	if readSys(filepath.Join(link, "ro")) == "1" {
		return fmt.Errorf("device %s is read-only", d.Path)
	}
	d.Model = readSys(filepath.Join(link, "device", "model"))
	if size, err := strconv.ParseInt(readSys(filepath.Join(link, "size")), 10, 64); err == nil {
		d.Size = size * 512 // sysfs counts 512-byte units whatever the sector size
	}
	if lbs := readSys(filepath.Join(link, "queue", "logical_block_size")); lbs != "" && lbs != "512" {
		return fmt.Errorf("device %s has %s-byte sectors: Flatcar images are laid out for 512-byte sectors", d.Path, lbs)
	}
	if d.Size == 0 {
		return fmt.Errorf("device %s has no medium (size 0)", d.Path)
	}
	devs := diskDevs(link)
	system, err := systemDisks("/", "/usr")
	if err != nil {
		return err
	}
	if system[d.Name] {
		return fmt.Errorf("device %s holds the running system (/ or /usr): refusing to overwrite it", d.Path)
	}
	if m, err := mountedOn(devs); err != nil {
		return err
	} else if m != "" {
		return fmt.Errorf("device %s is in use: %s; unmount it first", d.Path, m)
	}
	for name := range devs {
		holders, _ := os.ReadDir(filepath.Join(sysBlock, name, "holders"))
		if len(holders) > 0 {
			return fmt.Errorf("device %s is in use: /dev/%s is held by %s (md, LVM or device-mapper); stop that first", d.Path, name, holders[0].Name())
		}
	}
	if sw := swapOn(devs); sw != "" {
		return fmt.Errorf("device %s is in use: /dev/%s is active swap; swapoff it first", d.Path, sw)
	}
	return nil
}

// diskDevs maps the kernel names of a disk and its partitions to their
// device numbers ("MAJ:MIN").
func diskDevs(link string) map[string]string {
	out := map[string]string{filepath.Base(link): readSys(filepath.Join(link, "dev"))}
	ents, _ := os.ReadDir(link)
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(link, e.Name(), "partition")); err == nil {
			out[e.Name()] = readSys(filepath.Join(link, e.Name(), "dev"))
		}
	}
	return out
}

func readSys(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	dev, point, source string
}

func readMountInfo() ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []mountInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f1, f2 := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f1) < 5 || len(f2) < 2 {
			continue
		}
		out = append(out, mountInfo{dev: f1[2], point: unescapeMount(f1[4]), source: unescapeMount(f2[1])})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountedOn reports the first mount of any of devs (kernel name ->
// MAJ:MIN), by device number or by mount source (btrfs mounts show an
// anonymous device number but name their device as source).
func mountedOn(devs map[string]string) (string, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		for name, dev := range devs {
			if m.dev == dev || sourceIs(m.source, dev) {
				return fmt.Sprintf("/dev/%s is mounted on %s", name, m.point), nil
			}
		}
	}
	return "", nil
}

func sourceIs(source, dev string) bool {
	if !strings.HasPrefix(source, "/dev/") {
		return false
	}
	st, err := os.Stat(source)
	if err != nil || st.Mode()&fs.ModeDevice == 0 {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && fmt.Sprintf("%d:%d", unix.Major(uint64(sys.Rdev)), unix.Minor(uint64(sys.Rdev))) == dev
}

// swapOn reports which of devs is active swap.
func swapOn(devs map[string]string) string {
	data, _ := os.ReadFile("/proc/swaps")
	for _, l := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		for name, dev := range devs {
			if f[0] == "/dev/"+name || sourceIs(f[0], dev) {
				return name
			}
		}
	}
	return ""
}

// systemDisks returns the kernel names of the whole disks holding the
// filesystems mounted at the given paths, following device-mapper and md
// devices down to their disks (through sysfs "slaves").
func systemDisks(paths ...string) (map[string]bool, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range paths {
		// The last mount at p is the one in effect.
		var m *mountInfo
		for i := range mounts {
			if mounts[i].point == p {
				m = &mounts[i]
			}
		}
		if m == nil {
			continue
		}
		devs := []string{m.dev}
		if st, err := os.Stat(m.source); err == nil && st.Mode()&fs.ModeDevice != 0 {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				devs = append(devs, fmt.Sprintf("%d:%d", unix.Major(uint64(sys.Rdev)), unix.Minor(uint64(sys.Rdev))))
			}
		}
		for _, dev := range devs {
			link, err := filepath.EvalSymlinks("/sys/dev/block/" + dev)
			if err != nil {
				continue // not a block device (overlay, tmpfs, ...)
			}
			addDisks(link, out, 0)
		}
	}
	return out, nil
}

// addDisks adds the whole disk of the sysfs block device at link, or, for
// a device-mapper or md device, the disks below it.
func addDisks(link string, out map[string]bool, depth int) {
	if depth > 16 {
		return
	}
	if _, err := os.Stat(filepath.Join(link, "partition")); err == nil {
		link = filepath.Dir(link)
	}
	slaves, _ := os.ReadDir(filepath.Join(link, "slaves"))
	if len(slaves) == 0 {
		out[filepath.Base(link)] = true
		return
	}
	for _, s := range slaves {
		if l, err := filepath.EvalSymlinks(filepath.Join(link, "slaves", s.Name())); err == nil {
			addDisks(l, out, depth+1)
		}
	}
}

// loopBacking returns the loop device whose backing file is path, or "".
func loopBacking(path string) string {
	want, err := os.Stat(path)
	if err != nil {
		return ""
	}
	ents, _ := os.ReadDir(sysBlock)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b := readSys(filepath.Join(sysBlock, e.Name(), "loop", "backing_file"))
		if b == "" {
			continue
		}
		if st, err := os.Stat(b); err == nil && os.SameFile(st, want) {
			return "/dev/" + e.Name()
		}
	}
	return ""
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
