package flix

// Flix: copy chosen binaries out of a foreign root filesystem together with
// the libraries they need, and rewrite their ELF interpreter and rpath so
// that they load only those libraries from /usr/local/NAME/.

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// Options say what Flix takes from a root filesystem.
type Options struct {
	// Rootfs is the root filesystem to take binaries and libraries from.
	Rootfs string
	// Name is the extension name; libraries go to /usr/local/NAME/.
	Name string
	// Paths are binaries and resources: "/usr/..." or "SRC:/usr/DEST".
	Paths []string
	// ExtraLibs are libraries loaded with dlopen, copied to
	// /usr/local/NAME/extralibs/ with what they need.
	ExtraLibs []string
	// Keep leaves the tree as directory NAME beside the output image.
	Keep bool
	// Pack says how to pack the tree; Dir and Name are set by Flix. Its
	// Warn also receives Flix's warnings.
	Pack sysextbuild.PackOptions
}

// Build copies the binaries and resources named in o.Paths from o.Rootfs
// into a sysext tree, together with their dynamic loader and needed
// libraries in /usr/local/NAME/, rewrites their interpreter and rpath to
// point there (with patchelf), and packs the tree.
func Build(ctx context.Context, o Options) (*sysextbuild.PackResult, error) {
	return sysextbuild.BuildAndPack(ctx, o.Name, o.Keep, o.Pack, func(dst string) error {
		return buildFlixTree(ctx, o, dst)
	})
}

// flixTree holds the state of one Flix tree build. The root filesystem
// and the tree are both reached only through their os.Root: a symlink in
// either (usr -> /somewhere, an absolute link the copy brought along) can
// never make a read or a write leave them.
type flixTree struct {
	ctx      context.Context
	rootfs   string   // ROOTFS on the host, for messages
	root     *os.Root // ROOTFS
	dst      *os.Root // tree being built
	name     string
	patchelf string
	warn     func(string)
	copier   rootfs.Copier

	confDirs []string          // root-relative dirs from ld.so.conf
	found    map[string]string // soname -> root-relative source
	class    elf.Class
	machine  elf.Machine
}

// flixLibDir is the directory inside the tree that receives libraries.
func flixLibDir(name string) string { return "usr/local/" + name }

// buildFlixTree writes the Flix tree for rootfs into dst (created, must not
// exist yet). It is Flix without the packing.
func buildFlixTree(ctx context.Context, o Options, dst string) error {
	rootfsDir, name, paths, extraLibs, warn := o.Rootfs, o.Name, o.Paths, o.ExtraLibs, o.Pack.Warn
	if err := sysextbuild.CheckName(name); err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no paths given: name the binaries and resources to take from %s", rootfsDir)
	}
	if fi, err := os.Stat(rootfsDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("root filesystem %s is not a directory", rootfsDir)
	}
	type mapping struct{ src, dest string }
	var maps []mapping
	for _, p := range paths {
		src, dest, err := rootfs.SplitMapping(p)
		if err != nil {
			return err
		}
		maps = append(maps, mapping{src, dest})
	}
	var extra []string
	for _, p := range extraLibs {
		rel, err := rootfs.CleanArg(p)
		if err != nil {
			return err
		}
		extra = append(extra, rel)
	}
	pe, err := flixFindPatchelf()
	if err != nil {
		return err
	}
	if warn == nil {
		warn = func(string) {}
	}
	root, err := rootfs.Open(rootfsDir)
	if err != nil {
		return err
	}
	defer root.Close()
	t := &flixTree{ctx: ctx, rootfs: rootfsDir, root: root, name: name, patchelf: pe, warn: warn,
		copier: rootfs.Copier{Warn: warn}, found: map[string]string{}}
	if t.confDirs, err = flixConfLibDirs(root); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("creating tree %s: %w", dst, err)
	}
	if t.dst, err = rootfs.Open(dst); err != nil {
		return err
	}
	defer t.dst.Close()
	if err := rootfs.MkdirAll(t.dst, flixLibDir(name)); err != nil {
		return fmt.Errorf("creating library directory: %w", err)
	}
	for _, m := range maps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.addPath(m.src, m.dest); err != nil {
			return err
		}
	}
	for _, lib := range extra {
		if err := t.addExtraLib(lib); err != nil {
			return err
		}
	}
	return nil
}

// flixConfLibDirs lists the library directories the root filesystem's
// ld.so.conf (with includes) and ld.so.conf.d name, in order.
func flixConfLibDirs(root *os.Root) ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		rel, err := rootfs.CleanArg(d)
		if err != nil || seen[rel] {
			return
		}
		seen[rel] = true
		dirs = append(dirs, rel)
	}
	var readConf func(rel string, depth int) error
	readConf = func(rel string, depth int) error {
		if depth > 8 {
			return nil
		}
		res, err := rootfs.Resolve(root, rel, true)
		if err != nil {
			return fmt.Errorf("reading ld.so configuration %s: %w", rel, err)
		}
		f, err := rootfs.OpenRegular(root, res)
		if err != nil {
			return nil // no configuration is fine
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if fields[0] == "include" {
				for _, pat := range fields[1:] {
					if !strings.HasPrefix(pat, "/") {
						pat = path.Join(path.Dir("/"+rel), pat)
					}
					patRel, err := rootfs.CleanArg(pat)
					if err != nil {
						continue
					}
					dirRes, err := rootfs.Resolve(root, path.Dir(patRel), true)
					if err != nil {
						return err
					}
					for _, n := range flixReadDirNames(root, dirRes) {
						if ok, _ := path.Match(path.Base(patRel), n); ok {
							if err := readConf(path.Join(dirRes, n), depth+1); err != nil {
								return err
							}
						}
					}
				}
				continue
			}
			for _, d := range fields {
				add(d)
			}
		}
		return sc.Err()
	}
	if err := readConf("etc/ld.so.conf", 0); err != nil {
		return nil, err
	}
	// glibc builds do not always list ld.so.conf.d; read it anyway like
	// the upstream script does.
	if confd, err := rootfs.Resolve(root, "etc/ld.so.conf.d", true); err == nil {
		for _, n := range flixReadDirNames(root, confd) {
			if strings.HasSuffix(n, ".conf") {
				if err := readConf(path.Join(confd, n), 1); err != nil {
					return nil, err
				}
			}
		}
	}
	return dirs, nil
}

// flixReadDirNames lists the directory rel inside root, sorted; nothing
// when it is missing or not a directory.
func flixReadDirNames(root *os.Root, rel string) []string {
	d, err := root.OpenFile(rootfs.Name(rel), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	sort.Strings(names)
	return names
}

// flixMultiarch is the Debian/Ubuntu multiarch triplet of a machine, whose
// /lib/TRIPLET and /usr/lib/TRIPLET those distributions' dynamic loader
// searches by default, without any ld.so.conf entry.
func flixMultiarch(class elf.Class, m elf.Machine) string {
	switch {
	case m == elf.EM_X86_64 && class == elf.ELFCLASS64:
		return "x86_64-linux-gnu"
	case m == elf.EM_AARCH64:
		return "aarch64-linux-gnu"
	case m == elf.EM_386:
		return "i386-linux-gnu"
	case m == elf.EM_ARM:
		return "arm-linux-gnueabihf"
	case m == elf.EM_RISCV && class == elf.ELFCLASS64:
		return "riscv64-linux-gnu"
	case m == elf.EM_PPC64:
		return "powerpc64le-linux-gnu"
	case m == elf.EM_S390:
		return "s390x-linux-gnu"
	}
	return ""
}

// libDirs lists where the root filesystem's dynamic loader looks for a
// library of the tree's machine, after rpaths: what ld.so.conf names,
// then the loader's built-in directories (the multiarch ones of
// Debian-style systems, then the lib64 and lib of every glibc and musl
// build).
func (t *flixTree) libDirs() []string {
	dirs := append([]string(nil), t.confDirs...)
	var defaults []string
	if tr := flixMultiarch(t.class, t.machine); tr != "" {
		defaults = append(defaults, "lib/"+tr, "usr/lib/"+tr)
	}
	defaults = append(defaults, "lib64", "usr/lib64", "lib", "usr/lib", "usr/local/lib64", "usr/local/lib")
	for _, d := range defaults {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// addPath copies one SRC:DEST entry into the tree and flixes ELF binaries.
func (t *flixTree) addPath(src, dest string) error {
	// Resolve the parent directories, but look at the last component
	// itself so that a symlink stays a symlink.
	parent, err := rootfs.Resolve(t.root, path.Dir(src), true)
	if err != nil {
		return fmt.Errorf("resolving /%s in %s: %w", src, t.rootfs, err)
	}
	srcRel := path.Join(parent, path.Base(src))
	fi, err := t.root.Lstat(rootfs.Name(srcRel))
	if err != nil {
		return fmt.Errorf("path /%s not found in %s: %w", src, t.rootfs, err)
	}
	if fi.Mode().Type() == os.ModeSymlink {
		target, err := rootfs.Resolve(t.root, srcRel, true)
		if err != nil {
			return fmt.Errorf("resolving link /%s in %s: %w", src, t.rootfs, err)
		}
		if _, err := t.root.Lstat(rootfs.Name(target)); err != nil {
			return fmt.Errorf("link /%s points to missing /%s in %s", src, target, t.rootfs)
		}
		if strings.HasPrefix(target, "usr/") {
			// Keep the link and ship its target at the same place.
			if err := rootfs.Symlink(t.dst, "/"+target, dest); err != nil {
				return fmt.Errorf("creating link /%s: %w", dest, err)
			}
			if _, err := t.dst.Lstat(target); err == nil {
				return nil
			}
			return t.addResolved(target, target)
		}
		// The target would land outside /usr: ship its content instead.
		return t.addResolved(target, dest)
	}
	return t.addResolved(srcRel, dest)
}

// addResolved copies the non-symlink srcRel to dest and flixes it if it is
// a dynamic ELF executable.
func (t *flixTree) addResolved(srcRel, dest string) error {
	if err := t.copier.CopyTree(t.root, srcRel, t.dst, dest); err != nil {
		return err
	}
	fi, err := t.dst.Lstat(dest)
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	info, ok, err := flixReadELF(t.dst, dest)
	if err != nil || !ok || info.Interp == "" {
		return err
	}
	interp, err := t.addInterp(info)
	if err != nil {
		return fmt.Errorf("flixing /%s: %w", srcRel, err)
	}
	if err := flixPatch(t.ctx, t.patchelf, t.dst, dest, interp, ""); err != nil {
		return err
	}
	return t.addDeps(srcRel, dest, info)
}

// addInterp copies the dynamic loader and returns its new path.
func (t *flixTree) addInterp(info *flixELF) (string, error) {
	if t.class == elf.ELFCLASSNONE {
		t.class, t.machine = info.Class, info.Machine
	} else if t.class != info.Class || t.machine != info.Machine {
		return "", fmt.Errorf("mixes %v/%v binaries with %v/%v ones: one architecture per extension", info.Class, info.Machine, t.class, t.machine)
	}
	rel, err := rootfs.CleanArg(info.Interp)
	if err != nil {
		return "", err
	}
	res, err := rootfs.Resolve(t.root, rel, true)
	if err != nil {
		return "", fmt.Errorf("resolving interpreter %s: %w", info.Interp, err)
	}
	base := path.Base(info.Interp)
	newRel := flixLibDir(t.name) + "/" + base
	if _, err := t.dst.Lstat(newRel); err == nil {
		return "/" + newRel, nil
	}
	if err := rootfs.CopyFile(t.root, res, t.dst, newRel, 0o755); err != nil {
		return "", fmt.Errorf("copying interpreter %s: %w", info.Interp, err)
	}
	t.found[base] = res
	return "/" + newRel, nil
}

// addDeps copies the libraries an ELF file needs (recursively) and points
// its rpath at the library directory. srcRel is where the file came from
// in the root filesystem (for $ORIGIN and messages), rel where it is in
// the tree.
func (t *flixTree) addDeps(srcRel, rel string, info *flixELF) error {
	libDir := flixLibDir(t.name)
	var search []string
	for _, rp := range info.RPath {
		if strings.Contains(rp, "$ORIGIN") || strings.Contains(rp, "${ORIGIN}") {
			t.warn(fmt.Sprintf("ignoring rpath %s of /%s: $ORIGIN paths are not followed; pass needed libraries with --extra-lib", rp, srcRel))
			continue
		}
		if rel, err := rootfs.CleanArg(rp); err == nil {
			search = append(search, rel)
		}
	}
	search = append(search, t.libDirs()...)
	for _, dep := range info.Needed {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		if _, ok := t.found[dep]; ok {
			continue
		}
		src, err := t.findLib(dep, search)
		if err != nil {
			return fmt.Errorf("resolving libraries of /%s: %w", srcRel, err)
		}
		t.found[dep] = src
		depRel := libDir + "/" + path.Base(dep)
		if err := rootfs.CopyFile(t.root, src, t.dst, depRel, 0o755); err != nil {
			return err
		}
		depInfo, ok, err := flixReadELF(t.dst, depRel)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("library /%s needed by /%s is not an ELF file", src, srcRel)
		}
		if err := t.addDeps(src, depRel, depInfo); err != nil {
			return err
		}
	}
	// Objects without needed libraries (the loader itself) keep their
	// rpath: setting one breaks glibc's loader.
	if len(info.Needed) == 0 {
		return nil
	}
	rpath := "/" + libDir + ":/" + libDir + "/extralibs"
	return flixPatch(t.ctx, t.patchelf, t.dst, rel, "", rpath)
}

// findLib looks a needed library up in the search dirs, skipping files of
// another ELF class or machine (such as 32-bit libraries in /usr/lib).
func (t *flixTree) findLib(dep string, search []string) (string, error) {
	if strings.Contains(dep, "/") {
		rel, err := rootfs.CleanArg(dep)
		if err != nil {
			return "", err
		}
		search = []string{path.Dir(rel)}
		dep = path.Base(rel)
	}
	for _, d := range search {
		res, err := rootfs.Resolve(t.root, d+"/"+dep, true)
		if err != nil {
			t.warn(fmt.Sprintf("skipping /%s/%s: %v", d, dep, err))
			continue
		}
		info, ok, err := flixReadELF(t.root, res)
		if err != nil || !ok {
			continue
		}
		if t.class != elf.ELFCLASSNONE && (info.Class != t.class || info.Machine != t.machine) {
			continue
		}
		return res, nil
	}
	return "", fmt.Errorf("library %s not found in the root filesystem (searched %s)", dep, "/"+strings.Join(search, " /"))
}

// addExtraLib copies a library that is loaded with dlopen to
// usr/local/NAME/extralibs/ and resolves what it needs.
func (t *flixTree) addExtraLib(rel string) error {
	res, err := rootfs.Resolve(t.root, rel, true)
	if err != nil {
		return fmt.Errorf("resolving extra library /%s: %w", rel, err)
	}
	destRel := flixLibDir(t.name) + "/extralibs/" + path.Base(rel)
	if err := rootfs.CopyFile(t.root, res, t.dst, destRel, 0o755); err != nil {
		return fmt.Errorf("copying extra library /%s: %w", rel, err)
	}
	info, ok, err := flixReadELF(t.dst, destRel)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("extra library /%s is not an ELF file", rel)
	}
	if t.class == elf.ELFCLASSNONE {
		t.class, t.machine = info.Class, info.Machine
	}
	return t.addDeps(res, destRel, info)
}
