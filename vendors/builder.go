package vendors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/bake-os/bake-os/gpt"
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
		if err := b.buildJob(ctx, j, src); err != nil {
			return fmt.Errorf("building vendor %s: %w", j.v.Name, err)
		}
	}
	return nil
}

// buildJob runs the vendor's bundle on src (the prepared disk; "" for
// live media), checks it wrote every file it declares, and compresses the
// main output.
func (b *builder) buildJob(ctx context.Context, j job, src string) error {
	bd := j.bundle
	c := &bundleContext{b: b, j: j, src: src, staged: map[string]string{}}
	if err := bd.Build(ctx, c); err != nil {
		return err
	}
	ign := b.plan.o.Ignition != nil
	for _, f := range bd.Files() {
		_, ok := c.staged[f.Role]
		switch want := !f.IgnitionOnly || ign; {
		case want && !ok:
			return fmt.Errorf("bundle %s did not write %s, which it declares", bd.Name(), j.v.fileName(f.Role))
		case ok && !want:
			return fmt.Errorf("bundle %s wrote %s, which it declares only with an Ignition config", bd.Name(), j.v.fileName(f.Role))
		}
	}
	if !mainFile(bd).Compress {
		return nil
	}
	return b.compress(ctx, j, c.staged[roleMain])
}

// compress writes the release compressions of the staged main output;
// without "none" in the list the uncompressed file is dropped.
func (b *builder) compress(ctx context.Context, j job, mainTmp string) error {
	for _, c := range j.comps {
		if c == CompressNone {
			continue
		}
		// Compressed copies have the kind of what they compress.
		p, err := b.st.temp(j.v.Name, mainFile(j.bundle).Kind, j.v.File+c.Ext())
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
