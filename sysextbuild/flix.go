package sysextbuild

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
	"path/filepath"
	"strings"
)

// FlixOptions say what Flix takes from a root filesystem.
type FlixOptions struct {
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
	Pack PackOptions
}

// Flix copies the binaries and resources named in o.Paths from o.Rootfs
// into a sysext tree, together with their dynamic loader and needed
// libraries in /usr/local/NAME/, rewrites their interpreter and rpath to
// point there (with patchelf), and packs the tree.
func Flix(ctx context.Context, o FlixOptions) (*PackResult, error) {
	return rootfsBuildAndPack(ctx, o.Name, o.Keep, o.Pack, func(dst string) error {
		return buildFlixTree(ctx, o, dst)
	})
}

// flixTree holds the state of one Flix tree build.
type flixTree struct {
	ctx      context.Context
	root     string // ROOTFS on the host
	dst      string // tree being built on the host
	name     string
	patchelf string
	warn     func(string)
	copier   rootfsCopier

	libDirs []string          // root-relative default search dirs
	found   map[string]string // soname -> root-relative source
	class   elf.Class
	machine elf.Machine
}

// flixLibDir is the directory inside the tree that receives libraries.
func flixLibDir(name string) string { return "usr/local/" + name }

// buildFlixTree writes the Flix tree for rootfs into dst (created, must not
// exist yet). It is Flix without the packing.
func buildFlixTree(ctx context.Context, o FlixOptions, dst string) error {
	rootfs, name, paths, extraLibs, warn := o.Rootfs, o.Name, o.Paths, o.ExtraLibs, o.Pack.Warn
	if err := rootfsCheckName(name); err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no paths given: name the binaries and resources to take from %s", rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return fmt.Errorf("root filesystem %s is not a directory", rootfs)
	}
	type mapping struct{ src, dest string }
	var maps []mapping
	for _, p := range paths {
		src, dest, err := rootfsSplitMapping(p)
		if err != nil {
			return err
		}
		maps = append(maps, mapping{src, dest})
	}
	var extra []string
	for _, p := range extraLibs {
		rel, err := rootfsCleanArg(p)
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
	t := &flixTree{ctx: ctx, root: rootfs, dst: dst, name: name, patchelf: pe, warn: warn,
		copier: rootfsCopier{Warn: warn}, found: map[string]string{}}
	if t.libDirs, err = flixDefaultLibDirs(rootfs); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("creating tree %s: %w", dst, err)
	}
	if err := os.MkdirAll(rootfsHost(dst, flixLibDir(name)), 0o755); err != nil {
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

// flixDefaultLibDirs lists the library directories the dynamic loader of
// the root filesystem would search: ld.so.conf (with includes) and the
// usual defaults.
func flixDefaultLibDirs(root string) ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		rel, err := rootfsCleanArg(d)
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
		res, err := rootfsResolve(root, rel, true)
		if err != nil {
			return fmt.Errorf("reading ld.so configuration %s: %w", rel, err)
		}
		f, err := os.Open(rootfsHost(root, res))
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
					patRel, err := rootfsCleanArg(pat)
					if err != nil {
						continue
					}
					dirRes, err := rootfsResolve(root, path.Dir(patRel), true)
					if err != nil {
						return err
					}
					matches, _ := filepath.Glob(filepath.Join(rootfsHost(root, dirRes), path.Base(patRel)))
					for _, m := range matches {
						if err := readConf(path.Join(dirRes, filepath.Base(m)), depth+1); err != nil {
							return err
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
	confd, _ := rootfsResolve(root, "etc/ld.so.conf.d", true)
	if ents, err := os.ReadDir(rootfsHost(root, confd)); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				if err := readConf(path.Join(confd, e.Name()), 1); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, d := range []string{"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib64", "/usr/local/lib"} {
		add(d)
	}
	return dirs, nil
}

// addPath copies one SRC:DEST entry into the tree and flixes ELF binaries.
func (t *flixTree) addPath(src, dest string) error {
	// Resolve the parent directories, but look at the last component
	// itself so that a symlink stays a symlink.
	parent, err := rootfsResolve(t.root, path.Dir(src), true)
	if err != nil {
		return fmt.Errorf("resolving /%s in %s: %w", src, t.root, err)
	}
	srcRel := path.Join(parent, path.Base(src))
	hostSrc := rootfsHost(t.root, srcRel)
	fi, err := os.Lstat(hostSrc)
	if err != nil {
		return fmt.Errorf("path /%s not found in %s: %w", src, t.root, err)
	}
	hostDest := rootfsHost(t.dst, dest)
	if err := os.MkdirAll(filepath.Dir(hostDest), 0o755); err != nil {
		return fmt.Errorf("creating directory for /%s: %w", dest, err)
	}
	if fi.Mode().Type() == os.ModeSymlink {
		target, err := rootfsResolve(t.root, srcRel, true)
		if err != nil {
			return fmt.Errorf("resolving link /%s in %s: %w", src, t.root, err)
		}
		if _, err := os.Lstat(rootfsHost(t.root, target)); err != nil {
			return fmt.Errorf("link /%s points to missing /%s in %s", src, target, t.root)
		}
		if strings.HasPrefix(target, "usr/") {
			// Keep the link and ship its target at the same place.
			if err := os.Symlink("/"+target, hostDest); err != nil {
				return fmt.Errorf("creating link /%s: %w", dest, err)
			}
			if _, err := os.Lstat(rootfsHost(t.dst, target)); err == nil {
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
	hostDest := rootfsHost(t.dst, dest)
	if err := os.MkdirAll(filepath.Dir(hostDest), 0o755); err != nil {
		return fmt.Errorf("creating directory for /%s: %w", dest, err)
	}
	hostSrc := rootfsHost(t.root, srcRel)
	if err := t.copier.CopyTree(hostSrc, hostDest); err != nil {
		return err
	}
	fi, err := os.Lstat(hostDest)
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	info, ok, err := flixReadELF(hostDest)
	if err != nil || !ok || info.Interp == "" {
		return err
	}
	interp, err := t.addInterp(info)
	if err != nil {
		return fmt.Errorf("flixing /%s: %w", srcRel, err)
	}
	if err := flixPatch(t.ctx, t.patchelf, hostDest, interp, ""); err != nil {
		return err
	}
	return t.addDeps(srcRel, hostDest, info)
}

// addInterp copies the dynamic loader and returns its new path.
func (t *flixTree) addInterp(info *flixELF) (string, error) {
	if t.class == elf.ELFCLASSNONE {
		t.class, t.machine = info.Class, info.Machine
	} else if t.class != info.Class || t.machine != info.Machine {
		return "", fmt.Errorf("mixes %v/%v binaries with %v/%v ones: one architecture per extension", info.Class, info.Machine, t.class, t.machine)
	}
	rel, err := rootfsCleanArg(info.Interp)
	if err != nil {
		return "", err
	}
	res, err := rootfsResolve(t.root, rel, true)
	if err != nil {
		return "", fmt.Errorf("resolving interpreter %s: %w", info.Interp, err)
	}
	base := path.Base(info.Interp)
	newPath := "/" + flixLibDir(t.name) + "/" + base
	hostDest := rootfsHost(t.dst, newPath)
	if _, err := os.Lstat(hostDest); err == nil {
		return newPath, nil
	}
	if err := rootfsCopyFile(rootfsHost(t.root, res), hostDest, 0o755); err != nil {
		return "", fmt.Errorf("copying interpreter %s: %w", info.Interp, err)
	}
	t.found[base] = res
	return newPath, nil
}

// addDeps copies the libraries an ELF file needs (recursively) and points
// its rpath at the library directory. srcRel is where the file came from
// in the root filesystem (for $ORIGIN and messages).
func (t *flixTree) addDeps(srcRel, hostFile string, info *flixELF) error {
	libDir := flixLibDir(t.name)
	var search []string
	for _, rp := range info.RPath {
		if strings.Contains(rp, "$ORIGIN") || strings.Contains(rp, "${ORIGIN}") {
			t.warn(fmt.Sprintf("ignoring rpath %s of /%s: $ORIGIN paths are not followed; pass needed libraries with --extra-lib", rp, srcRel))
			continue
		}
		if rel, err := rootfsCleanArg(rp); err == nil {
			search = append(search, rel)
		}
	}
	search = append(search, t.libDirs...)
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
		hostDep := rootfsHost(t.dst, libDir+"/"+path.Base(dep))
		if err := rootfsCopyFile(rootfsHost(t.root, src), hostDep, 0o755); err != nil {
			return err
		}
		depInfo, ok, err := flixReadELF(hostDep)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("library /%s needed by /%s is not an ELF file", src, srcRel)
		}
		if err := t.addDeps(src, hostDep, depInfo); err != nil {
			return err
		}
	}
	// Objects without needed libraries (the loader itself) keep their
	// rpath: setting one breaks glibc's loader.
	if len(info.Needed) == 0 {
		return nil
	}
	rpath := "/" + libDir + ":/" + libDir + "/extralibs"
	return flixPatch(t.ctx, t.patchelf, hostFile, "", rpath)
}

// findLib looks a needed library up in the search dirs, skipping files of
// another ELF class or machine (such as 32-bit libraries in /usr/lib).
func (t *flixTree) findLib(dep string, search []string) (string, error) {
	if strings.Contains(dep, "/") {
		rel, err := rootfsCleanArg(dep)
		if err != nil {
			return "", err
		}
		search = []string{path.Dir(rel)}
		dep = path.Base(rel)
	}
	for _, d := range search {
		res, err := rootfsResolve(t.root, d+"/"+dep, true)
		if err != nil {
			t.warn(fmt.Sprintf("skipping /%s/%s: %v", d, dep, err))
			continue
		}
		host := rootfsHost(t.root, res)
		fi, err := os.Stat(host)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		info, ok, err := flixReadELF(host)
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
	res, err := rootfsResolve(t.root, rel, true)
	if err != nil {
		return fmt.Errorf("resolving extra library /%s: %w", rel, err)
	}
	dir := rootfsHost(t.dst, flixLibDir(t.name)+"/extralibs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating extralibs directory: %w", err)
	}
	hostDest := filepath.Join(dir, path.Base(rel))
	if err := rootfsCopyFile(rootfsHost(t.root, res), hostDest, 0o755); err != nil {
		return fmt.Errorf("copying extra library /%s: %w", rel, err)
	}
	info, ok, err := flixReadELF(hostDest)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("extra library /%s is not an ELF file", rel)
	}
	if t.class == elf.ELFCLASSNONE {
		t.class, t.machine = info.Class, info.Machine
	}
	return t.addDeps(res, hostDest, info)
}
