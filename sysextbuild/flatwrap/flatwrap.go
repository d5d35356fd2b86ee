package flatwrap

// Flatwrap: ship a whole foreign root filesystem under /usr/local/NAME/ and
// generate entry-point wrappers that run its binaries inside it, with the
// host's /dev, /proc, /sys, /run, /tmp (and by default /etc, /var, /home)
// mapped in.

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// Flatwrap map modes for /etc, /var and /home.
const (
	MapHost   = "host"
	MapChroot = "chroot"
)

// Defaults for the directories taken from the chroot and from the host.
var (
	DefaultChrootDirs = []string{"/usr", "/lib", "/lib64", "/bin", "/sbin"}
	DefaultHostDirs   = []string{"/dev", "/proc", "/sys", "/run", "/tmp", "/var/tmp"}
)

// Options say what Flatwrap ships and how its wrappers map
// directories.
type Options struct {
	// Rootfs is the root filesystem shipped under /usr/local/NAME/.
	Rootfs string
	// Name is the extension name.
	Name string
	// Paths are the entry points: "/usr/..." or "SRC:/usr/DEST".
	// Executables get wrappers, everything else a symlink into the tree.
	Paths []string
	// EtcMap, VarMap and HomeMap say whether /etc, /var and /home come
	// from the host (MapHost, the default) or from the chroot (MapChroot).
	EtcMap, VarMap, HomeMap string
	// ChrootDirs are taken from the chroot (nil means
	// DefaultChrootDirs); HostDirs from the host (nil means
	// DefaultHostDirs).
	ChrootDirs, HostDirs []string
	// Keep leaves the tree as directory NAME beside the output image.
	Keep bool
	// Pack says how to pack the tree; Dir and Name are set by Flatwrap.
	Pack sysextbuild.PackOptions
}

// Build ships o.Rootfs under /usr/local/NAME/, generates wrappers for
// the entry points in o.Paths and packs the tree.
func Build(ctx context.Context, o Options) (*sysextbuild.PackResult, error) {
	return sysextbuild.BuildAndPack(ctx, o.Name, o.Keep, o.Pack, func(dst string) error {
		return buildFlatwrapTree(ctx, o, dst)
	})
}

// flatwrapBind is one bind mount of the private root: Src is a host path
// (may start with the runtime root prefix), Dst the path inside.
type flatwrapBind struct {
	Src     string // root-relative path inside the tree when Chroot, host path otherwise
	Dst     string
	Chroot  bool
	Devices bool
}

// buildFlatwrapTree writes the Flatwrap tree into dst (created, must not
// exist). It is Flatwrap without the packing.
func buildFlatwrapTree(ctx context.Context, s Options, dst string) error {
	if err := sysextbuild.CheckName(s.Name); err != nil {
		return err
	}
	if len(s.Paths) == 0 {
		return fmt.Errorf("no paths given: name the binaries and units to expose from %s", s.Rootfs)
	}
	if fi, err := os.Stat(s.Rootfs); err != nil || !fi.IsDir() {
		return fmt.Errorf("root filesystem %s is not a directory", s.Rootfs)
	}
	chrootDirs := s.ChrootDirs
	if chrootDirs == nil {
		chrootDirs = DefaultChrootDirs
	}
	hostDirs := s.HostDirs
	if hostDirs == nil {
		hostDirs = DefaultHostDirs
	}
	chrootDirs = append([]string(nil), chrootDirs...)
	hostDirs = append([]string(nil), hostDirs...)
	for _, m := range []struct{ dir, mode string }{{"/etc", s.EtcMap}, {"/var", s.VarMap}, {"/home", s.HomeMap}} {
		switch m.mode {
		case "", MapHost:
			hostDirs = append(hostDirs, m.dir)
		case MapChroot:
			chrootDirs = append(chrootDirs, m.dir)
		default:
			return fmt.Errorf("invalid map mode %q for %s: use %q or %q", m.mode, m.dir, MapHost, MapChroot)
		}
	}
	type mapping struct{ src, dest string }
	var maps []mapping
	for _, p := range s.Paths {
		src, dest, err := rootfs.SplitMapping(p)
		if err != nil {
			return err
		}
		maps = append(maps, mapping{src, dest})
	}
	lib := "usr/local/" + s.Name

	src, err := rootfs.Open(s.Rootfs)
	if err != nil {
		return err
	}
	defer src.Close()
	binds, err := flatwrapBinds(src, chrootDirs, hostDirs)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("creating tree %s: %w", dst, err)
	}
	out, err := rootfs.Open(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := rootfs.MkdirAll(out, lib); err != nil {
		return fmt.Errorf("creating /%s: %w", lib, err)
	}
	cp := rootfs.Copier{OneFileSystem: true, Warn: s.Pack.Warn}
	if err := cp.CopyTree(src, "", out, lib); err != nil {
		return fmt.Errorf("copying root filesystem: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The copied root filesystem may hold a mount-dir or helper of its
	// own, even as a symlink: replace it, never write through it.
	if err := out.RemoveAll(lib + "/mount-dir"); err != nil {
		return fmt.Errorf("creating mount-dir: %w", err)
	}
	if err := rootfs.MkdirAll(out, lib+"/mount-dir"); err != nil {
		return fmt.Errorf("creating mount-dir: %w", err)
	}
	for _, h := range []struct {
		file string
		text string
	}{
		{"unshare-helper", flatwrapHelper(s.Name, binds, false)},
		{"unshare-helper-unpriv", flatwrapHelper(s.Name, binds, true)},
	} {
		if err := rootfs.WriteFile(out, lib+"/"+h.file, strings.NewReader(h.text), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", h.file, err)
		}
	}
	for _, m := range maps {
		if err := flatwrapEntry(s, src, out, binds, m.src, m.dest); err != nil {
			return err
		}
	}
	return nil
}

// flatwrapBinds lists the bind mounts of the private root, sorted so that
// parents come before children (/var before /var/tmp).
func flatwrapBinds(root *os.Root, chrootDirs, hostDirs []string) ([]flatwrapBind, error) {
	var binds []flatwrapBind
	seen := map[string]bool{}
	add := func(b flatwrapBind) {
		if !seen[b.Dst] {
			seen[b.Dst] = true
			binds = append(binds, b)
		}
	}
	sortDirs := func(d []string) ([]string, error) {
		var out []string
		for _, x := range d {
			rel, err := rootfs.CleanArg(x)
			if err != nil {
				return nil, err
			}
			if rel == "" {
				return nil, fmt.Errorf("cannot map / itself: name directories such as /usr")
			}
			out = append(out, rel)
		}
		sort.Strings(out)
		return out, nil
	}
	cd, err := sortDirs(chrootDirs)
	if err != nil {
		return nil, err
	}
	for _, d := range cd {
		res, err := rootfs.Resolve(root, d, true)
		if err != nil {
			return nil, fmt.Errorf("resolving %s in %s: %w", d, root.Name(), err)
		}
		if _, err := root.Lstat(rootfs.Name(res)); err != nil {
			continue // not in this root filesystem
		}
		add(flatwrapBind{Src: res, Dst: "/" + d, Chroot: true})
	}
	hd, err := sortDirs(hostDirs)
	if err != nil {
		return nil, err
	}
	for _, d := range hd {
		add(flatwrapBind{Src: "/" + d, Dst: "/" + d, Devices: d == "dev"})
	}
	return binds, nil
}

// flatwrapQuote quotes s for POSIX sh.
func flatwrapQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// flatwrapHelper renders the helper that a wrapper runs in a fresh mount
// namespace: it assembles the private root on a tmpfs and enters it
// without changing the working directory.
func flatwrapHelper(name string, binds []flatwrapBind, unpriv bool) string {
	lib := "/usr/local/" + name
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Generated by bake-os sysext flatwrap; runs in a private mount namespace.\nset -e\n")
	if unpriv {
		b.WriteString("U=\"$1\"\nG=\"$2\"\nshift 2\n")
	}
	fmt.Fprintf(&b, "R=\"${FLATWRAP_ROOT-}\"\nM=\"$R\"%s\n", flatwrapQuote(lib+"/mount-dir"))
	b.WriteString("mount -t tmpfs tmpfs \"$M\"\n")
	for _, bd := range binds {
		src := flatwrapQuote(bd.Src)
		if bd.Chroot {
			src = "\"$R\"" + flatwrapQuote(lib+"/"+bd.Src)
		}
		fmt.Fprintf(&b, "mkdir -p \"$M\"%s\nmount --rbind %s \"$M\"%s\n", flatwrapQuote(bd.Dst), src, flatwrapQuote(bd.Dst))
	}
	if unpriv {
		b.WriteString("exec unshare --map-user=\"$U\" --map-group=\"$G\" -U --root \"$M\" --wd \"$PWD\" \"$@\"\n")
	} else {
		b.WriteString("exec unshare --root \"$M\" --wd \"$PWD\" \"$@\"\n")
	}
	return b.String()
}

// flatwrapWrapper renders the entry point for entry (an absolute path
// inside the chroot). Root uses unshare; other users bwrap when present,
// else an unprivileged user namespace. FLATWRAP_MODE=unshare|bwrap|
// unshare-unpriv forces one way (for debugging), FLATWRAP_ROOT prefixes
// all tree paths (for running from an unpacked tree).
func flatwrapWrapper(name string, binds []flatwrapBind, entry string) string {
	lib := "/usr/local/" + name
	var bw strings.Builder
	for _, bd := range binds {
		flag := "--bind"
		if bd.Devices {
			flag = "--dev-bind"
		}
		src := flatwrapQuote(bd.Src)
		if bd.Chroot {
			src = "\"$R\"" + flatwrapQuote(lib+"/"+bd.Src)
		}
		fmt.Fprintf(&bw, " %s %s %s", flag, src, flatwrapQuote(bd.Dst))
	}
	e := flatwrapQuote(entry)
	helper := "\"$R\"" + flatwrapQuote(lib+"/unshare-helper")
	return fmt.Sprintf(`#!/bin/sh
# Generated by bake-os sysext flatwrap: runs %[1]s from %[2]s.
R="${FLATWRAP_ROOT-}"
mode="${FLATWRAP_MODE-}"
if [ -z "$mode" ]; then
  if [ "$(id -u)" = 0 ]; then
    mode=unshare
  elif command -v bwrap >/dev/null && [ -z "${NOBWRAP-}" ]; then
    mode=bwrap
  else
    mode=unshare-unpriv
  fi
fi
case "$mode" in
  unshare) exec unshare -m %[3]s %[4]s "$@" ;;
  bwrap) exec bwrap%[5]s -- %[4]s "$@" ;;
  *) exec unshare -m -U -r %[3]s-unpriv "$(id -u)" "$(id -g)" %[4]s "$@" ;;
esac
`, entry, lib, helper, e, bw.String())
}

// flatwrapEntry exposes one path of the chroot at dest: executables get a
// wrapper, everything else (units, directories, data) a symlink into the
// tree.
func flatwrapEntry(s Options, src, out *os.Root, binds []flatwrapBind, from, dest string) error {
	res, err := rootfs.Resolve(src, from, true)
	if err != nil {
		return fmt.Errorf("resolving /%s in %s: %w", from, s.Rootfs, err)
	}
	fi, err := src.Lstat(rootfs.Name(res))
	if err != nil {
		return fmt.Errorf("path /%s not found in %s: %w", from, s.Rootfs, err)
	}
	if fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		w := flatwrapWrapper(s.Name, binds, "/"+from)
		if err := rootfs.WriteFile(out, dest, strings.NewReader(w), 0o755); err != nil {
			return fmt.Errorf("writing wrapper /%s: %w", dest, err)
		}
		return nil
	}
	target := path.Join("/usr/local", s.Name, res)
	if err := rootfs.Symlink(out, target, dest); err != nil {
		return fmt.Errorf("linking /%s: %w", dest, err)
	}
	return nil
}
