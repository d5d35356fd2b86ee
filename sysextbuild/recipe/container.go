package recipe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/flatwrap"
	"github.com/bake-os/bake-os/sysextbuild/flix"
	"github.com/bake-os/bake-os/sysextbuild/oci"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// ErrNoContainerEngine is returned (wrapped) when a container recipe finds
// neither a working docker nor podman.
var ErrNoContainerEngine = errors.New("no container engine")

// findEngine returns the first engine in names (default docker, podman)
// that answers `ENGINE info`, else an error naming what each one lacked.
func findEngine(ctx context.Context, names []string) (string, error) {
	if len(names) == 0 {
		names = []string{"docker", "podman"}
	}
	p, tried := oci.FindEngine(ctx, names, func(n string, installed bool, _ string) string {
		if !installed {
			return n + " (not installed)"
		}
		return n + " (`" + n + " info` failed: is the daemon running?)"
	})
	if p == "" {
		return "", fmt.Errorf("%w: tried %s", ErrNoContainerEngine, strings.Join(tried, ", "))
	}
	return p, nil
}

// containerBuild runs the recipe's build script in a container (or on the
// host with $ENGINE available) and copies <work>/build/usr into the tree.
func (b *builder) containerBuild(ctx context.Context) error {
	bd := b.r.Build
	engine, err := findEngine(ctx, b.o.Engines)
	if err != nil {
		return fmt.Errorf("recipe %s builds upstream sources in a container; install and start docker or podman: %w", b.r.Name, err)
	}
	dir := filepath.Join(b.work, "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating build dir: %w", err)
	}
	script, err := fs.ReadFile(b.r.static, bd.Script)
	if err != nil {
		return fmt.Errorf("reading build script: %w", err)
	}
	sp := filepath.Join(dir, filepath.Base(bd.Script))
	if err := os.WriteFile(sp, script, 0o755); err != nil {
		return fmt.Errorf("writing build script: %w", err)
	}
	args := make([]string, 0, len(bd.Args)+1)
	for _, a := range bd.Args {
		args = append(args, b.expand(a))
	}
	args = append(args, fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()))
	var cmd *exec.Cmd
	if bd.Host {
		cmd = child.Command(ctx, "bash", append([]string{sp}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ENGINE="+engine, "ARCH="+b.vars["arch"], "BUILD_DIR="+dir)
	} else {
		run := []string{"run", "--rm", "-i", "-v", dir + ":/install_root", "--platform", "linux/" + bd.Platform[b.o.Arch]}
		run = append(run, bd.EngineArgs...)
		run = append(run, bd.Image, "/install_root/"+filepath.Base(bd.Script))
		cmd = child.Command(ctx, engine, append(run, args...)...)
	}
	runlog.Tool(runlog.From(ctx), cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("running %s build in %s: %w\n%s", b.r.Name, filepath.Base(engine), err, tail(out))
	}
	root, err := rootfs.Open(b.root)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := copyTree(dir, "usr", root, "usr"); err != nil {
		return fmt.Errorf("copying build result: %w", err)
	}
	for _, m := range bd.Moves {
		if _, err := root.Lstat(m.Src); err != nil {
			continue
		}
		if err := treeRealParent(root, m.Src); err != nil {
			return fmt.Errorf("moving %s: %w", m.Src, err)
		}
		if err := rootfs.MkdirAll(root, path.Dir(m.Dest)); err != nil {
			return fmt.Errorf("moving %s: %w", m.Src, err)
		}
		_ = root.RemoveAll(m.Dest)
		if err := root.Rename(m.Src, m.Dest); err != nil {
			return fmt.Errorf("moving %s: %w", m.Src, err)
		}
	}
	return nil
}

// copyTree copies srcRel of the directory srcDir into dstRel of dst
// (merging), keeping modes and symlinks. The build output is read
// through an os.Root and never followed through a symlink; the tree is
// written without going through one.
func copyTree(srcDir, srcRel string, dst *os.Root, dstRel string) error {
	src, err := rootfs.Open(srcDir)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.Lstat(srcRel); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the build produced no %s", srcRel)
	}
	return fs.WalkDir(src.FS(), srcRel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t := path.Join(dstRel, strings.TrimPrefix(strings.TrimPrefix(p, srcRel), "/"))
		if d.IsDir() {
			return rootfs.MkdirAll(dst, t)
		}
		info, err := src.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := src.Readlink(p)
			if err != nil {
				return err
			}
			return rootfs.Symlink(dst, l, t)
		case info.Mode().IsRegular():
			in, err := rootfs.OpenRegular(src, p)
			if err != nil {
				return err
			}
			defer in.Close()
			return writeFile(dst, t, in, info.Mode().Perm(), nil)
		}
		return nil
	})
}

// ociRootfs is oci.Rootfs; tests replace it to run without an engine.
var ociRootfs = oci.Rootfs

// rootfsBuild makes the recipe's root filesystem in a container and
// packs what Flatwrap or Flix take from it.
func (b *builder) rootfsBuild(ctx context.Context, pack sysextbuild.PackOptions) (*sysextbuild.PackResult, error) {
	rf := b.r.Rootfs
	if err := b.resolveVars(ctx); err != nil {
		return nil, err
	}
	if _, err := findEngine(ctx, b.o.Engines); err != nil {
		return nil, fmt.Errorf("recipe %s installs packages in a container; install and start docker or podman: %w", b.r.Name, err)
	}
	rootfsDir := filepath.Join(b.work, "rootfs")
	if err := ociRootfs(ctx, oci.Options{Image: rf.Image, Dir: rootfsDir, Arch: b.o.Arch, Cmd: rf.Cmd, Engines: b.o.Engines, Warn: pack.Warn}); err != nil {
		return nil, fmt.Errorf("preparing %s root filesystem: %w", rf.Image, err)
	}
	paths := make([]string, len(rf.Paths))
	for i, p := range rf.Paths {
		paths[i] = b.expand(p)
	}
	if rf.Tool == "flix" {
		return flix.Build(ctx, flix.Options{Rootfs: rootfsDir, Name: b.o.Name, Paths: paths, Pack: pack})
	}
	return flatwrap.Build(ctx, flatwrap.Options{Rootfs: rootfsDir, Name: b.o.Name, Paths: paths, EtcMap: rf.EtcMap, Pack: pack})
}
