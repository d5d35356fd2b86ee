package vendors

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/vendors/diskfmt"
)

// diskfmtName maps a vendor's disk to the diskfmt writer's name. This is
// the one place that knows diskfmt's names.
func diskfmtName(d Disk) string {
	switch d.Format + "/" + d.Subformat {
	case "vmdk/monolithicSparse":
		return "vmdk"
	case "vmdk/streamOptimized":
		return "vmdk-stream"
	case "vhd/fixed":
		return "vhd"
	case "vhd/dynamic":
		return "vhd-dynamic"
	}
	return d.Format
}

// lookupDisk finds the writer of a vendor's disk.
func lookupDisk(d Disk) (diskfmt.Format, error) {
	f, err := diskfmt.Lookup(diskfmtName(d))
	if err != nil {
		return nil, fmt.Errorf("finding disk writer for %s %s: %w", d.Format, d.Subformat, err)
	}
	return f, nil
}

// writeDisk writes the prepared raw disk srcPath to dstPath in the
// vendor's format; extentName is the final file name (recorded by
// monolithic VMDK descriptors).
func writeDisk(ctx context.Context, d Disk, srcPath, dstPath, extentName string, workers int, rep progress.Reporter) error {
	f, err := lookupDisk(d)
	if err != nil {
		return err
	}
	src, err := os.Open(srcPath)
	if err != nil {
		return fmt.Errorf("opening prepared disk: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(dstPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dstPath, err)
	}
	defer dst.Close()
	o := diskfmt.Options{VirtualSize: d.VirtualSize, Adapter: d.Adapter, Workers: workers, Reporter: named(rep, dstPath, extentName),
		ExtentName: extentName}
	if err := f.Write(ctx, src, dst, o); err != nil {
		return fmt.Errorf("writing %s disk %s: %w", f.Name(), extentName, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dstPath, err)
	}
	return nil
}

// named makes rep show name for the staged temp file tmp in the
// descriptions of steps: progress names the output.
func named(rep progress.Reporter, tmp, name string) progress.Reporter {
	if rep == nil || name == "" {
		return rep
	}
	return namedReporter{Reporter: rep, tmp: tmp, name: name}
}

// namedReporter shows name instead of the temp path tmp in the
// descriptions of steps.
type namedReporter struct {
	progress.Reporter
	tmp, name string
}

func (r namedReporter) Counter(desc string, total int64) progress.Counter {
	return r.Reporter.Counter(strings.ReplaceAll(desc, r.tmp, r.name), total)
}

// writeMainDisk writes a vendor's disk output; the first qcow2 one is
// finished from BuildOptions.Ahead when there is one.
func (b *builder) writeMainDisk(ctx context.Context, v Vendor, srcPath, dstPath string) error {
	a := b.plan.o.Ahead
	if a == nil || diskfmtName(v.Disk) != (diskfmt.Qcow2{}).Name() {
		return writeDisk(ctx, v.Disk, srcPath, dstPath, v.File, b.workers, b.rep)
	}
	b.plan.o.Ahead = nil // used once
	src, err := os.Open(srcPath)
	if err != nil {
		return fmt.Errorf("opening prepared disk: %w", err)
	}
	defer src.Close()
	o := diskfmt.Options{VirtualSize: v.Disk.VirtualSize, Workers: b.workers, Reporter: named(b.rep, dstPath, v.File)}
	if err := a.Finish(ctx, src, dstPath, o); err != nil {
		return fmt.Errorf("writing qcow2 disk %s: %w", v.File, err)
	}
	return nil
}

// convertFirmware writes a raw UEFI flash file as qcow2 (or copies a file
// that already is qcow2).
func convertFirmware(ctx context.Context, src, dst string, isQcow2 bool) error {
	if isQcow2 {
		return copyPlain(src, dst)
	}
	return writeDisk(ctx, Disk{Format: "qcow2"}, src, dst, "", 1, nil)
}

// copyPlain copies a (small or dense) file.
func copyPlain(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// diskBundleName is the plain disk's bundle, what a vendor row without a
// Bundle gets.
const diskBundleName = "disk"

// diskBundle writes the vendor's disk alone.
type diskBundle struct{}

func (diskBundle) Name() string { return diskBundleName }

func (diskBundle) Files() []bundleFile {
	return []bundleFile{{Role: roleMain, Kind: "disk", Compress: true}}
}

func (diskBundle) Build(ctx context.Context, c *bundleContext) error {
	_, err := c.mainDisk(ctx)
	return err
}
