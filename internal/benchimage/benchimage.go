package benchimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/bake-os/bake-os/testimage"
)

// Options says what to make and where.
type Options struct {
	Dir         string // cache directory (default /var/tmp/bake-os-bench)
	Version     string // Flatcar version (default 4593.2.5)
	USRBytes    int64  // data stored in USR-A (default 560 MiB)
	KernelBytes int64  // size of ESP flatcar/vmlinuz-a (default 50 MiB)
	// Raw stores the USR-A files uncompressed (semi-compressible data that
	// bzip2 shrinks about 3x) instead of zstd-compressed as Flatcar does.
	Raw   bool
	Force bool             // remake even when cached
	Log   func(msg string) // progress lines (optional)
}

// Result names the made (or cached) files.
type Result struct {
	Dir    string   // the image's directory (version.txt, oem-qemu.raw beside the image)
	Image  string   // sparse flatcar_production_image.bin
	Bzip2  string   // flatcar_production_image.bin.bz2
	OEM    string   // oem-qemu.raw
	Ext    string   // ext.raw, the ~40 MB sample sysext (name "ext")
	Extras []string // ext2.raw, ext3.raw: smaller sysexts (names ext2, ext3)
}

// Sysext sizes: host bytes packed into each sample sysext.
var sampleSysexts = []struct {
	name string
	host int64
}{{"ext", 100 << 20}, {"ext2", 24 << 20}, {"ext3", 6 << 20}}

// Ensure makes whatever of the benchmark inputs is missing from the cache.
func Ensure(ctx context.Context, o Options) (*Result, error) {
	if o.Dir == "" {
		o.Dir = "/var/tmp/bake-os-bench"
	}
	if o.Version == "" {
		o.Version = "4593.2.5"
	}
	if o.USRBytes == 0 {
		o.USRBytes = 560 << 20
	}
	if o.KernelBytes == 0 {
		o.KernelBytes = 50 << 20
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	kind := "zstd"
	if o.Raw {
		kind = "raw"
	}
	name := fmt.Sprintf("flatcar-like-%s-usr%dm-kernel%dm-%s", kind, o.USRBytes>>20, o.KernelBytes>>20, o.Version)
	r := &Result{Dir: filepath.Join(o.Dir, name)}
	r.Image = filepath.Join(r.Dir, "flatcar_production_image.bin")
	r.Bzip2 = r.Image + ".bz2"
	r.OEM = filepath.Join(r.Dir, "oem-qemu.raw")
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	have := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Size() > 0 && !o.Force
	}

	if !have(r.Image) || !have(filepath.Join(r.Dir, "version.txt")) {
		logf("making %s (%s USR-A data)", r.Image, kind)
		if err := makeImage(ctx, r.Image, o); err != nil {
			return nil, err
		}
		os.Remove(r.Bzip2) // stale
	}
	if !have(r.Bzip2) {
		logf("compressing %s (slow: bzip2 -9 of 8.4 GB)", r.Bzip2)
		if err := compress(ctx, r.Image, r.Bzip2); err != nil {
			return nil, err
		}
	}
	if !have(r.OEM) {
		logf("making %s", r.OEM)
		if err := makeOEM(ctx, r.OEM, o.Version); err != nil {
			return nil, err
		}
	}
	for _, s := range sampleSysexts {
		p := filepath.Join(o.Dir, s.name+".raw")
		if !have(p) {
			logf("making %s", p)
			if err := makeSample(ctx, p, s.name, s.host); err != nil {
				return nil, err
			}
		}
		if s.name == "ext" {
			r.Ext = p
		} else {
			r.Extras = append(r.Extras, p)
		}
	}
	return r, nil
}

// makeImage generates the sparse image at path (via a temp name).
func makeImage(ctx context.Context, path string, o Options) error {
	work, err := os.MkdirTemp(filepath.Dir(path), ".work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	usr := filepath.Join(work, "usr")
	stored, host, err := fillTree(ctx, usr, o.USRBytes, !o.Raw)
	if err != nil {
		return err
	}
	if o.Log != nil {
		o.Log(fmt.Sprintf("USR-A: %d MB stored from %d MB of host files", stored>>20, host>>20))
	}
	esp := filepath.Join(work, "esp")
	if err := os.MkdirAll(filepath.Join(esp, "flatcar"), 0o755); err != nil {
		return err
	}
	if err := writeBlob(filepath.Join(esp, "flatcar", "vmlinuz-a"), o.KernelBytes); err != nil {
		return err
	}
	tmp := filepath.Join(work, "image.bin")
	// Its own filesystem UUIDs: the benchmark loop-mounts OEM, and the
	// kernel then remembers that btrfs UUID, which would make mkfs.btrfs
	// refuse the default ones in other tests.
	if err := testimage.Generate(ctx, tmp, testimage.Options{Version: o.Version, USRTree: usr, ESPTree: esp, UUIDSeed: "benchimage"}); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(work, "version.txt"), filepath.Join(filepath.Dir(path), "version.txt")); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// compress writes dst = bzip2 -9 of src with lbzip2 (every core) or bzip2.
func compress(ctx context.Context, src, dst string) error {
	tool, args := "lbzip2", []string{"-9", "-n", strconv.Itoa(runtime.NumCPU()), "-c", src}
	if _, err := exec.LookPath(tool); err != nil {
		tool, args = "bzip2", []string{"-9", "-c", src}
	}
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		out.Close()
		return fmt.Errorf("compressing with %s: %w", tool, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
