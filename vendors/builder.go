package vendors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/progress"
)

// builder runs a validated plan.
type builder struct {
	plan    *plan
	work    string
	st      *stage
	rep     progress.Reporter
	workers int
	// kernel and initrd are made once for iso, pxe and usb.
	kernel, initrd string
	// warnings: what the OEM rebuilds could not keep, each line once.
	warnings []string
	// cmdlines: the kernel command line by output name (pxe's kernel).
	cmdlines map[string]string
}

func (b *builder) buildGroup(ctx context.Context, g *group) error {
	src := b.plan.o.Base
	if g.layout.Name != "base" || g.oem != nil {
		name := "disk-" + g.layout.Name
		if g.oem != nil {
			name += "-" + g.oem.ID
		}
		src = filepath.Join(b.work, name+".raw")
		c := b.rep.Counter("preparing "+name, -1)
		consume := b.plan.o.ConsumeBase && len(b.plan.groups) == 1 && len(b.plan.boot) == 0
		lost, err := prepareDisk(ctx, b.plan.o, src, consume, g.layout, g.oem, b.plan.arch, b.plan.version)
		progress.Finish(c, err)
		if err != nil {
			return fmt.Errorf("preparing %s disk: %w", name, err)
		}
		for _, l := range lost {
			if !slices.Contains(b.warnings, l) {
				b.warnings = append(b.warnings, l)
			}
		}
		defer os.Remove(src)
	}
	if err := gpt.Validate(src); err != nil {
		return fmt.Errorf("checking %s disk: %w", g.layout.Name, err)
	}
	for _, j := range g.jobs {
		if err := b.buildVendor(ctx, j, src); err != nil {
			return fmt.Errorf("building vendor %s: %w", j.v.Name, err)
		}
	}
	return nil
}

// output stages a file and returns its temp path.
func (b *builder) output(v Vendor, kind, name string) (string, error) {
	return b.st.temp(v.Name, kind, name)
}

// writeFile stages a small file with content.
func (b *builder) writeFile(v Vendor, kind, name string, data []byte, mode os.FileMode) error {
	p, err := b.output(v, kind, name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// writeTo stages name and calls fn with the open file.
func (b *builder) writeTo(v Vendor, kind, name string, fn func(f *os.File) error) (string, error) {
	p, err := b.output(v, kind, name)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := fn(f); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	return p, nil
}

// workDisk writes the vendor's disk format into the work directory (for
// bundles that wrap it) and returns its path and size.
func (b *builder) workDisk(ctx context.Context, v Vendor, src, name string) (string, int64, error) {
	p := filepath.Join(b.work, name)
	if err := writeDisk(ctx, v.Disk, src, p, name, b.workers, b.rep); err != nil {
		return "", 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", 0, err
	}
	return p, st.Size(), nil
}

func (b *builder) capacity(v Vendor, src string) (int64, error) {
	if v.Disk.VirtualSize != 0 {
		return v.Disk.VirtualSize, nil
	}
	st, err := os.Stat(src)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (b *builder) buildVendor(ctx context.Context, j job, src string) error {
	v := j.v
	version := b.plan.version
	capacity, err := b.capacity(v, src)
	if err != nil {
		return err
	}
	stem := strings.TrimSuffix(v.File, filepath.Ext(v.File))
	switch v.Bundle {
	case BundleGCE:
		_, err := b.writeTo(v, "archive", v.File, func(f *os.File) error {
			return writeGCETar(ctx, f, src, b.workers)
		})
		return err
	case BundleOVA:
		vmdkName := stem + "_image.vmdk"
		vmdk, size, err := b.workDisk(ctx, v, src, vmdkName)
		if err != nil {
			return err
		}
		ovf, err := renderOVF(defaultOVF(stem, version, vmdkName, size, capacity, true), true)
		if err != nil {
			return err
		}
		_, err = b.writeTo(v, "archive", v.File, func(f *os.File) error {
			return writeOVA(ctx, f, stem, ovf, vmdkName, vmdk)
		})
		os.Remove(vmdk)
		return err
	case BundleVagrant:
		vmdk, size, err := b.workDisk(ctx, v, src, vagrantDiskName)
		if err != nil {
			return err
		}
		ovf, err := renderOVF(defaultOVF(stem, version, vagrantDiskName, size, capacity, false), false)
		if err != nil {
			return err
		}
		_, err = b.writeTo(v, "archive", v.File, func(f *os.File) error {
			return writeVagrantBox(ctx, f, ovf, vmdk, b.workers)
		})
		os.Remove(vmdk)
		return err
	case BundleVagrantParallels, BundleParallels:
		name := stem + "_image"
		hdd, _, err := b.workDisk(ctx, v, src, name+".hds")
		if err != nil {
			return err
		}
		_, err = b.writeTo(v, "archive", v.File, func(f *os.File) error {
			if v.Bundle == BundleParallels {
				return writeParallelsTgz(ctx, f, name, hdd, capacity, b.workers)
			}
			return writeVagrantParallelsBox(ctx, f, name, hdd, capacity, b.workers)
		})
		os.Remove(hdd)
		return err
	}
	// Vendors whose main output is the disk itself.
	disk, err := b.output(v, "disk", v.File)
	if err != nil {
		return err
	}
	if err := b.writeMainDisk(ctx, v, src, disk); err != nil {
		return err
	}
	switch v.Bundle {
	case BundleVMX:
		if err := b.writeFile(v, "config", v.Extras[0], []byte(renderVMX(stem, v.File, 2, 2048)), 0o644); err != nil {
			return err
		}
	case BundleOVF:
		st, err := os.Stat(disk)
		if err != nil {
			return err
		}
		ovf, err := renderOVF(defaultOVF(stem, version, v.File, st.Size(), capacity, false), false)
		if err != nil {
			return err
		}
		if err := b.writeFile(v, "config", v.Extras[0], ovf, 0o644); err != nil {
			return err
		}
	case BundleXen:
		py, pv := xenConfigs(v.File)
		if err := b.writeFile(v, "config", v.Extras[0], []byte(py), 0o644); err != nil {
			return err
		}
		if err := b.writeFile(v, "config", v.Extras[1], []byte(pv), 0o644); err != nil {
			return err
		}
	case BundleQEMUUEFI:
		if err := b.qemuExtras(ctx, v, j.firmware); err != nil {
			return err
		}
	}
	return b.compress(ctx, j, disk)
}

func (b *builder) qemuExtras(ctx context.Context, v Vendor, fw firmware) error {
	if err := b.writeFile(v, "script", qemuScriptName, []byte(qemuScript(b.plan.arch, v.File)), 0o755); err != nil {
		return err
	}
	for _, f := range []struct{ src, name string }{{fw.Code, qemuCodeName}, {fw.Vars, qemuVarsName}} {
		p, err := b.output(v, "firmware", f.name)
		if err != nil {
			return err
		}
		if err := convertFirmware(ctx, f.src, p, fw.Qcow2); err != nil {
			return fmt.Errorf("writing firmware %s from %s: %w", f.name, f.src, err)
		}
	}
	return b.writeFile(v, "readme", qemuReadmeName, []byte(qemuReadme(b.plan.version, b.plan.arch)), 0o644)
}

// compress writes the release compressions of the staged main output;
// without "none" in the list the uncompressed file is dropped.
func (b *builder) compress(ctx context.Context, j job, mainTmp string) error {
	for _, c := range j.comps {
		if c == CompressNone {
			continue
		}
		p, err := b.output(j.v, "disk", j.v.File+c.Ext())
		if err != nil {
			return err
		}
		if err := compressFile(ctx, mainTmp, p, j.v.File, c, b.workers, b.rep); err != nil {
			return err
		}
	}
	if !hasNone(j.comps) {
		b.st.drop(mainTmp)
	}
	return nil
}

// bootFiles makes the kernel and initrd once.
func (b *builder) bootFiles(ctx context.Context) error {
	if b.kernel != "" {
		return nil
	}
	d, err := gpt.Open(b.plan.o.Base)
	if err != nil {
		return err
	}
	kernel := filepath.Join(b.work, "vmlinuz")
	if err := extractKernel(b.plan.o.Base, d, kernel); err != nil {
		return err
	}
	sq, err := usrSquashfs(ctx, b.plan.o.Base, d, b.work)
	if err != nil {
		return err
	}
	initrd := filepath.Join(b.work, "cpio.gz")
	f, err := os.Create(initrd)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeInitrd(ctx, f, sq, b.workers); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	os.Remove(sq)
	b.kernel, b.initrd = kernel, initrd
	return nil
}

func (b *builder) buildBoot(ctx context.Context, j job) error {
	if err := b.bootFiles(ctx); err != nil {
		return fmt.Errorf("building vendor %s: %w", j.v.Name, err)
	}
	v := j.v
	ign := b.plan.o.Ignition != nil
	switch v.Bundle {
	case BundlePXE:
		for _, f := range []struct{ src, name, kind string }{{b.initrd, v.File, "initrd"}, {b.kernel, v.Extras[0], "kernel"}} {
			p, err := b.output(v, f.kind, f.name)
			if err != nil {
				return err
			}
			if err := copyPlain(f.src, p); err != nil {
				return err
			}
		}
		if ign {
			if _, err := b.writeTo(v, "initrd", pxeIgnitionName, func(f *os.File) error {
				return writeIgnitionInitrd(ctx, f, b.plan.o.Ignition)
			}); err != nil {
				return fmt.Errorf("building vendor %s: %w", v.Name, err)
			}
		}
		line := pxeCommandLine(v.File, ign, b.plan.o.KernelArgs)
		b.cmdlines[v.Extras[0]] = line
		if ign || len(b.plan.o.KernelArgs) > 0 {
			runlog.From(ctx).Info(fmt.Sprintf("pxe: boot %s with the kernel command line: %s", v.Extras[0], line))
		}
		return nil
	case BundleISO:
		p, err := b.output(v, "iso", v.File)
		if err != nil {
			return err
		}
		os.Remove(p) // xorriso wants to create it
		work := filepath.Join(b.work, "iso-"+v.Name)
		ignInitrd := ""
		if ign {
			if err := os.MkdirAll(work, 0o755); err != nil {
				return err
			}
			ignInitrd = filepath.Join(work, "ignition.cpio.gz")
			f, err := os.Create(ignInitrd)
			if err != nil {
				return err
			}
			err = writeIgnitionInitrd(ctx, f, b.plan.o.Ignition)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("building vendor %s: %w", v.Name, err)
			}
		}
		if err := writeISO(ctx, p, b.kernel, b.initrd, ignInitrd, b.plan.o.KernelArgs, work); err != nil {
			return fmt.Errorf("building vendor %s: %w", v.Name, err)
		}
		return b.compress(ctx, j, p)
	case BundleUSB:
		p, err := b.output(v, "disk", v.File)
		if err != nil {
			return err
		}
		if err := writeUSB(ctx, p, b.kernel, b.initrd, b.plan.o.Ignition, b.plan.o.KernelArgs, filepath.Join(b.work, "usb-"+v.Name)); err != nil {
			return fmt.Errorf("building vendor %s: %w", v.Name, err)
		}
		return b.compress(ctx, j, p)
	}
	return fmt.Errorf("vendor %s has no boot bundle", v.Name)
}
