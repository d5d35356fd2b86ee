package vendors

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sparse"
)

// oemInput is one OEM sysext ready to install.
type oemInput struct {
	ID         string
	Path       string // oem-ID.raw
	OEMRelease string // rendered /oem-release
}

// prepareDisk makes the group's working disk at path: a sparse copy of
// base (or base itself, renamed, when consume is set) grown to layout,
// with the OEM sysext and files installed when oem is not nil. It
// returns what the OEM rebuild could not keep (see installOEM).
func prepareDisk(ctx context.Context, o BuildOptions, path string, consume bool, layout flatcar.Layout, oem *oemInput, arch flatcar.Arch, version string) (lost []string, err error) {
	base := o.Base
	if consume {
		if err := os.Rename(base, path); err != nil {
			return nil, fmt.Errorf("taking over base image: %w", err)
		}
	} else if err := copyBase(ctx, base, path); err != nil {
		return nil, err
	}
	if err := growToLayout(ctx, path, layout); err != nil {
		return nil, err
	}
	if oem != nil {
		if lost, err = installOEM(ctx, path, *oem, arch, version, o); err != nil {
			return nil, fmt.Errorf("installing OEM %s: %w", oem.ID, err)
		}
	}
	return lost, nil
}

// growToLayout grows the disk and ROOT to layout (nothing to do when the
// disk already has its size), then grows ROOT's ext4 to fill the entry.
func growToLayout(ctx context.Context, path string, layout flatcar.Layout) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	d, err := gpt.Read(f)
	if err != nil {
		return fmt.Errorf("reading GPT: %w", err)
	}
	root, err := d.ByLabel(flatcar.LabelROOT)
	if err != nil {
		return fmt.Errorf("finding ROOT: %w", err)
	}
	if d.Size == layout.DiskBytes() && root.Sectors() == layout.RootSectors {
		return nil
	}
	if err := gpt.Grow(f, layout.DiskSectors, root.Number, layout.RootSectors); err != nil {
		return fmt.Errorf("growing disk to layout %s: %w", layout.Name, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err = gpt.Open(path)
	if err != nil {
		return fmt.Errorf("reading grown GPT: %w", err)
	}
	root, err = d.ByLabel(flatcar.LabelROOT)
	if err != nil {
		return err
	}
	if err := partitions.GrowExt4(ctx, path, root.Offset(), root.Size(), archiveTime(ctx).Unix()); err != nil {
		return fmt.Errorf("growing ROOT filesystem: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() != layout.DiskBytes() {
		return fmt.Errorf("growing disk to layout %s: image is %d bytes, want %d", layout.Name, st.Size(), layout.DiskBytes())
	}
	return nil
}

func copyBase(ctx context.Context, base, path string) error {
	src, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("opening base image: %w", err)
	}
	defer src.Close()
	if err := sparse.CopyFile(ctx, path, src, 0o644, nil); err != nil {
		return fmt.Errorf("copying base image: %w", err)
	}
	return nil
}

// OEMFiles are the paths installOEM writes into OEM for the OEM sysext
// id of Flatcar version (the sysext, its active-oem marker, /oem-release
// and /grub.cfg); a bake refuses to place anything of its own there.
func OEMFiles(id, version string) []string {
	return []string{fmt.Sprintf("/sysext/oem-%s-%s.raw", id, version), "/sysext/active-oem-" + id, "/oem-release", "/grub.cfg"}
}

// installOEM writes the OEM partition's vendor content: the sysext as
// /sysext/oem-ID-VERSION.raw, the /sysext/active-oem-ID marker,
// /oem-release and /grub.cfg (with the kernel arguments of o and of the
// bake's earlier grub.cfg merged in). The rebuild warns (through the
// logger ctx carries) about each property of the OEM it cannot keep
// rootless, e.g. btrfs compression, and returns those lines.
func installOEM(ctx context.Context, path string, oem oemInput, arch flatcar.Arch, version string, o BuildOptions) ([]string, error) {
	d, err := gpt.Open(path)
	if err != nil {
		return nil, err
	}
	p, err := d.ByLabel(flatcar.LabelOEM)
	if err != nil {
		return nil, fmt.Errorf("finding OEM partition: %w", err)
	}
	ed, err := partitions.OpenBtrfs(ctx, path, p.Offset(), p.Size(), partitions.BtrfsOptions{Epoch: archiveTime(ctx).Unix(), Logger: runlog.From(ctx)})
	if err != nil {
		return nil, err
	}
	defer ed.Close()
	grub, err := GrubConfig(oem.ID, arch)
	if err != nil {
		return nil, err
	}
	if grub, err = mergeKernelArgs(ed, grub, o); err != nil {
		return nil, err
	}
	sx, err := os.Open(oem.Path)
	if err != nil {
		return nil, err
	}
	defer sx.Close()
	files := OEMFiles(oem.ID, version)
	steps := []func() error{
		func() error { return ed.MkdirAll("/sysext", 0o755) },
		func() error { return ed.WriteFile(files[0], sx, 0o644) },
		func() error { return ed.WriteFile(files[1], bytes.NewReader(nil), 0o644) },
		func() error { return ed.WriteFile(files[2], bytes.NewReader([]byte(oem.OEMRelease)), 0o644) },
		func() error { return ed.WriteFile(files[3], bytes.NewReader([]byte(grub)), 0o644) },
		func() error { return ed.Commit(ctx) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return ed.Lost(), ed.Close()
}

// mergeKernelArgs applies the bake's kernel arguments to the vendor's
// grub.cfg: those the baked OEM /grub.cfg carries on bake-os's line and
// o's, minus o's removals.
func mergeKernelArgs(ed partitions.Editor, grub string, o BuildOptions) (string, error) {
	var add []string
	// Only a regular file: never read through a link of the image.
	if fi, err := ed.Stat(provision.OEMGrubPath); err == nil && fi.Mode.IsRegular() {
		r, err := ed.Open(provision.OEMGrubPath)
		if err != nil {
			return "", fmt.Errorf("reading the baked OEM %s: %w", provision.OEMGrubPath, err)
		}
		data, err := io.ReadAll(io.LimitReader(r, provision.MaxGrubSize))
		r.Close()
		if err != nil {
			return "", fmt.Errorf("reading the baked OEM %s: %w", provision.OEMGrubPath, err)
		}
		for _, a := range provision.ManagedKernelArgs(string(data)) {
			if !slices.ContainsFunc(o.KernelArgsRemove, func(rm string) bool { return provision.RemovesKernelArg(rm, a) }) {
				add = append(add, a)
			}
		}
	}
	add = append(add, o.KernelArgs...)
	if len(add) == 0 && len(o.KernelArgsRemove) == 0 {
		return grub, nil
	}
	e, err := provision.EditKernelArgs(grub, add, o.KernelArgsRemove)
	if err != nil {
		return "", err
	}
	return e.Config, nil
}
