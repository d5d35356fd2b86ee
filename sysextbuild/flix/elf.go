package flix

// ELF reading (debug/elf) and rewriting (patchelf) for Flix.

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// flixELF is what Flix needs to know about one ELF file.
type flixELF struct {
	Class   elf.Class
	Machine elf.Machine
	Interp  string   // PT_INTERP, "" for static binaries and libraries
	Needed  []string // DT_NEEDED
	RPath   []string // DT_RPATH and DT_RUNPATH entries, in order
}

// flixReadELF reads the interpreter, needed libraries and rpaths of the
// ELF file rel inside root. ok is false (and err nil) when the file is
// missing, not regular or not ELF.
func flixReadELF(root *os.Root, rel string) (info *flixELF, ok bool, err error) {
	f, err := rootfs.OpenRegular(root, rel)
	if err != nil {
		return nil, false, nil
	}
	defer f.Close()
	p := "/" + rel
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil, false, nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, false, fmt.Errorf("reading ELF file %s: %w", p, err)
	}
	defer ef.Close()
	info = &flixELF{Class: ef.Class, Machine: ef.Machine}
	for _, prog := range ef.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(prog.Open())
		if err != nil {
			return nil, false, fmt.Errorf("reading interpreter of %s: %w", p, err)
		}
		info.Interp = string(bytes.TrimRight(b, "\x00"))
	}
	if ef.Section(".dynamic") == nil && !flixHasDynamic(ef) {
		return info, true, nil
	}
	if info.Needed, err = ef.ImportedLibraries(); err != nil {
		return nil, false, fmt.Errorf("reading needed libraries of %s: %w", p, err)
	}
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		vals, err := ef.DynString(tag)
		if err != nil {
			return nil, false, fmt.Errorf("reading rpath of %s: %w", p, err)
		}
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				if d != "" {
					info.RPath = append(info.RPath, d)
				}
			}
		}
	}
	return info, true, nil
}

func flixHasDynamic(ef *elf.File) bool {
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_DYNAMIC {
			return true
		}
	}
	return false
}

// ErrPatchelfMissing is returned when the patchelf tool is not installed
// (child's "patchelf not found: install patchelf").
var ErrPatchelfMissing = child.NotFound("patchelf")

func flixFindPatchelf() (string, error) {
	p, err := child.LookPath("patchelf")
	if err != nil {
		return "", ErrPatchelfMissing
	}
	return p, nil
}

// flixPatch rewrites the interpreter (when interp is not "") and the rpath
// (when rpath is not "", also setting DF_1_NODEFLIB so that the host's
// default library directories are never searched) of the file rel inside
// root. The flag is set in a separate patchelf run: patchelf 0.14 drops it
// when combined with --set-rpath. patchelf never gets a path it could
// follow out of the tree: the file is opened inside root (not following a
// final symlink) and handed over as /proc/self/fd/3.
func flixPatch(ctx context.Context, patchelf string, root *os.Root, rel, interp, rpath string) error {
	var runs [][]string
	if interp != "" {
		runs = append(runs, []string{"--set-interpreter", interp})
	}
	if rpath != "" {
		runs = append(runs, []string{"--set-rpath", rpath}, []string{"--no-default-lib"})
	}
	for _, args := range runs {
		f, err := rootfs.OpenRegular(root, rel)
		if err != nil {
			return fmt.Errorf("patching /%s: %w", rel, err)
		}
		cmd := child.Command(ctx, patchelf, append(args, "/proc/self/fd/3")...)
		cmd.ExtraFiles = []*os.File{f}
		out, err := cmd.CombinedOutput()
		f.Close()
		if err != nil {
			return fmt.Errorf("patching /%s with patchelf %s: %w: %s", rel, args[0], err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
