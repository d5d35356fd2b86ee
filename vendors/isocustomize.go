package vendors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
)

// CustomizeOptions says what CustomizeISO adds to a live ISO.
type CustomizeOptions struct {
	// Ignition, when set, is carried in /flatcar/ignition.cpio.gz, an
	// extra initrd both boot menus load (replacing one already there).
	Ignition []byte
	// KernelArgs are appended to the kernel command line of each entry.
	KernelArgs []string
	// Force replaces an existing output.
	Force bool
	// Epoch, when set (seconds since 1970, $SOURCE_DATE_EPOCH), is the
	// time of the files the customization adds or rewrites; 0 stamps
	// 2000-01-01, so the output is reproducible either way. The
	// volume's own dates stay the input's (GRUB may find an ISO by the
	// UUID they make).
	Epoch int64
	// Logger gets each tool run (debug); nil: the one ctx carries.
	Logger *slog.Logger
}

// maxBootCfg bounds the boot menus read from an ISO.
const maxBootCfg = 1 << 20

// CustomizeISO writes out, a copy of the live ISO in (Flatcar's, or the
// iso vendor's) whose boot entries also load an Ignition initrd and pass
// kernel arguments: what coreos-installer's "iso customize" does. The
// ISOLINUX menu (/isolinux/isolinux.cfg, required) and the GRUB menu
// (/EFI/BOOT/grub.cfg, when the ISO has one) are rewritten; the boot
// equipment (El Torito images, isohybrid MBR and GPT) is kept as it was
// (xorriso -boot_image any replay). in is only read; out appears whole or
// not at all.
func CustomizeISO(ctx context.Context, in, out string, o CustomizeOptions) error {
	ctx = runlog.With(ctx, o.Logger)
	if o.Epoch != 0 {
		ctx = withEpoch(ctx, o.Epoch)
	}
	if o.Ignition == nil && len(o.KernelArgs) == 0 {
		return errors.New("nothing to customize: give an Ignition config or kernel arguments")
	}
	if err := checkKernelArgs(o.KernelArgs); err != nil {
		return err
	}
	st, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("reading ISO: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("ISO %s is not a regular file", in)
	}
	if ost, err := os.Stat(out); err == nil && os.SameFile(st, ost) {
		return fmt.Errorf("output %s is the input ISO: write to another file", out)
	}
	if err := atomicfile.CheckTarget(out, o.Force); err != nil {
		return err
	}
	work, err := atomicfile.MkdirTemp(filepath.Dir(out), "iso-customize")
	if err != nil {
		return fmt.Errorf("creating work directory: %w", err)
	}
	defer atomicfile.Remove(work)

	files, err := isoFiles(ctx, in)
	if err != nil {
		return err
	}
	if !files["/isolinux/isolinux.cfg"] {
		return fmt.Errorf("ISO %s has no /isolinux/isolinux.cfg: not a Flatcar live ISO", in)
	}
	hasGrub := files["/"+isoGrubCfgPath]
	maps := []string{}
	edit := func(isoPath string, rewrite func(string) (string, error)) error {
		local := filepath.Join(work, filepath.Base(isoPath))
		if err := runTool(ctx, "osirrox", "-indev", in, "-extract", isoPath, local); err != nil {
			return fmt.Errorf("reading %s from the ISO: %w", isoPath, err)
		}
		if st, err := os.Lstat(local); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("%s in the ISO is not a regular file", isoPath)
		}
		b, err := os.ReadFile(local)
		if err != nil {
			return err
		}
		if len(b) > maxBootCfg {
			return fmt.Errorf("%s in the ISO is larger than %d bytes", isoPath, maxBootCfg)
		}
		text, err := rewrite(string(b))
		if err != nil {
			return fmt.Errorf("%s in the ISO: %w", isoPath, err)
		}
		if err := os.Chmod(local, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(local, []byte(text), 0o644); err != nil {
			return err
		}
		if err := stampFile(ctx, local); err != nil {
			return err
		}
		maps = append(maps, "-map", local, isoPath)
		return nil
	}
	withIgn := o.Ignition != nil
	if err := edit("/isolinux/isolinux.cfg", func(s string) (string, error) { return customizeIsolinux(s, withIgn, o.KernelArgs) }); err != nil {
		return err
	}
	if hasGrub {
		if err := edit("/"+isoGrubCfgPath, func(s string) (string, error) { return customizeGrub(s, withIgn, o.KernelArgs) }); err != nil {
			return err
		}
	}
	if withIgn {
		p := filepath.Join(work, "ignition.cpio.gz")
		if err := writeIgnitionInitrdFile(ctx, p, o.Ignition); err != nil {
			return err
		}
		if err := stampFile(ctx, p); err != nil {
			return err
		}
		maps = append(maps, "-map", p, "/"+isoIgnitionPath)
	}
	tmp := filepath.Join(work, "out.iso")
	args := append([]string{"-indev", in, "-outdev", tmp, "-boot_image", "any", "replay"}, maps...)
	env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", archiveTime(ctx).Unix())}
	if err := runToolEnv(ctx, env, "xorriso", args...); err != nil {
		return fmt.Errorf("writing the customized ISO: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("moving the customized ISO into place: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(out))
}

// isoFiles lists the regular files of an ISO (xorriso -find).
func isoFiles(ctx context.Context, iso string) (map[string]bool, error) {
	cmd := child.Command(ctx, "xorriso", "-indev", iso, "-find", "/", "-type", "f")
	runlog.Tool(runlog.From(ctx), cmd)
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reading ISO %s: %w", iso, err)
	}
	files := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); len(l) > 2 && l[0] == '\'' && l[len(l)-1] == '\'' {
			files[l[1:len(l)-1]] = true
		}
	}
	return files, nil
}

// customizeIsolinux adds the Ignition initrd and first boot (withIgn) and
// the kernel arguments to every "append" line that loads an initrd.
func customizeIsolinux(cfg string, withIgn bool, kernelArgs []string) (string, error) {
	lines := strings.Split(cfg, "\n")
	n := 0
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.EqualFold(f[0], "append") || !slices.ContainsFunc(f[1:], isInitrdArg) {
			continue
		}
		args := f[1:]
		if withIgn {
			for j, a := range args {
				if isInitrdArg(a) && !slices.Contains(strings.Split(a[len("initrd="):], ","), "/"+isoIgnitionPath) {
					args[j] = a + ",/" + isoIgnitionPath
				}
			}
			args = addArgs(args, []string{"flatcar.first_boot=1"})
		}
		args = addArgs(args, kernelArgs)
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		lines[i] = indent + f[0] + " " + strings.Join(args, " ")
		n++
	}
	if n == 0 {
		return "", errors.New("no append line loading an initrd: not a Flatcar live ISO menu")
	}
	return strings.Join(lines, "\n"), nil
}

// customizeGrub does the same to GRUB's linux and initrd commands.
func customizeGrub(cfg string, withIgn bool, kernelArgs []string) (string, error) {
	quoted := make([]string, len(kernelArgs))
	for i, a := range kernelArgs {
		quoted[i] = "'" + a + "'"
	}
	lines := strings.Split(cfg, "\n")
	var linux, initrd int
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		switch f[0] {
		case "linux", "linuxefi":
			args := f[1:]
			if withIgn {
				args = addArgs(args, []string{"flatcar.first_boot=1"})
			}
			lines[i] = indent + f[0] + " " + strings.Join(addArgs(args, quoted), " ")
			linux++
		case "initrd", "initrdefi":
			if withIgn && !slices.Contains(f[1:], "/"+isoIgnitionPath) {
				lines[i] = indent + strings.Join(f, " ") + " /" + isoIgnitionPath
			}
			initrd++
		}
	}
	if linux == 0 || (withIgn && initrd == 0) {
		return "", errors.New("no linux and initrd commands: not a Flatcar live ISO menu")
	}
	return strings.Join(lines, "\n"), nil
}

func isInitrdArg(a string) bool { return strings.HasPrefix(a, "initrd=") }

// addArgs appends the arguments args lacks.
func addArgs(args, more []string) []string {
	for _, m := range more {
		if !slices.Contains(args, m) {
			args = append(args, m)
		}
	}
	return args
}

// stampFile sets the times of a file about to be added to an ISO to the
// archive time (the Epoch, or 2000-01-01): xorriso records a mapped
// file's own mtime, which would make every run's ISO differ.
func stampFile(ctx context.Context, p string) error {
	t := archiveTime(ctx)
	if err := os.Chtimes(p, t, t); err != nil {
		return fmt.Errorf("setting times of %s: %w", p, err)
	}
	return nil
}
