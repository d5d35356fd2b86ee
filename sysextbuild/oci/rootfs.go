package oci

// Rootfs: unpack a container image's root filesystem into a directory,
// from an OCI image layout, a docker/podman save archive or a registry.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// Options say which image to unpack where.
type Options struct {
	// Image is an OCI image layout directory, a docker/podman save
	// archive, or a registry reference such as "alpine:3.20" or
	// "ghcr.io/org/img@sha256:...".
	Image string
	// Dir receives the root filesystem; it must not exist or be empty.
	Dir string
	// Arch picks the platform from multi-platform images; default x86-64.
	Arch flatcar.Arch
	// Cmd, when set, runs "sh -c CMD" in a container of a registry image
	// before exporting it. It needs podman or docker.
	Cmd string
	// Engines are the container engines tried for Cmd, in order; default
	// podman, then docker.
	Engines []string
	// Warn receives non-fatal problems (skipped devices, xattrs).
	Warn func(string)
}

// ErrCmdNeedsEngine is returned when Options.Cmd is set but no podman or
// docker that answers "info" is installed.
var ErrCmdNeedsEngine = errors.New("running a command in the image needs a working podman or docker: install or start one, or drop the command")

// Rootfs unpacks the image's layers in order into o.Dir, applying
// whiteouts. Entries that would land outside o.Dir are refused. The tree
// is assembled beside o.Dir and renamed into place at the end.
func Rootfs(ctx context.Context, o Options) error {
	if o.Image == "" || o.Dir == "" {
		return errors.New("both an image and a target directory are needed")
	}
	arch := o.Arch
	if arch == "" {
		arch = flatcar.ArchX86_64
	}
	if ents, err := os.ReadDir(o.Dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("target directory %s is not empty: remove it or pick another", o.Dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checking target directory %s: %w", o.Dir, err)
	}
	parent := filepath.Dir(filepath.Clean(o.Dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	tmp, err := atomicfile.MkdirTemp(parent, filepath.Base(o.Dir)+".oci")
	if err != nil {
		return fmt.Errorf("creating temporary directory for %s: %w", o.Dir, err)
	}
	defer atomicfile.Remove(tmp)
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", root, err)
	}
	if o.Cmd != "" {
		err = ociRunAndExport(ctx, o, arch, root)
	} else {
		err = ociUnpack(ctx, o, arch, root, tmp)
	}
	if err != nil {
		return err
	}
	_ = os.Remove(o.Dir) // empty or missing, checked above
	if err := os.Rename(root, o.Dir); err != nil {
		return fmt.Errorf("moving root filesystem into %s: %w", o.Dir, err)
	}
	return nil
}

func ociUnpack(ctx context.Context, o Options, arch flatcar.Arch, root, scratch string) error {
	img, err := ociOpenImage(ctx, o.Image, arch, scratch)
	if err != nil {
		return err
	}
	if cfg, err := img.ConfigFile(); err == nil && cfg.Architecture != "" && cfg.Architecture != arch.GoArch() {
		return fmt.Errorf("image %s is for %s, not %s: pick the platform with the architecture option", o.Image, cfg.Architecture, arch.GoArch())
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading layers of %s: %w", o.Image, err)
	}
	r, err := rootfs.Open(root)
	if err != nil {
		return err
	}
	defer r.Close()
	a := &Applier{Root: r, Whiteouts: true, Warn: o.Warn}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("opening layer %d of %s: %w", i+1, o.Image, err)
		}
		err = a.Apply(ctx, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("applying layer %d of %s: %w", i+1, o.Image, err)
		}
	}
	return nil
}

// ociOpenImage opens the image from a layout directory, a save archive or
// a registry. An OCI archive is unpacked to a layout in scratch first.
func ociOpenImage(ctx context.Context, image string, arch flatcar.Arch, scratch string) (v1.Image, error) {
	fi, statErr := os.Stat(image)
	switch {
	case statErr == nil && fi.IsDir():
		idx, err := layout.ImageIndexFromPath(image)
		if err != nil {
			return nil, fmt.Errorf("reading OCI image layout %s: %w", image, err)
		}
		return ociPickImage(idx, arch, image)
	case statErr == nil:
		isOCI, err := ociArchiveIsLayout(image)
		if err != nil {
			return nil, err
		}
		if isOCI {
			dir, err := ociUnpackArchive(ctx, image, scratch)
			if err != nil {
				return nil, err
			}
			idx, err := layout.ImageIndexFromPath(dir)
			if err != nil {
				return nil, fmt.Errorf("reading OCI archive %s: %w", image, err)
			}
			return ociPickImage(idx, arch, image)
		}
		img, err := tarball.ImageFromPath(image, nil)
		if err != nil {
			return nil, fmt.Errorf("reading image archive %s (docker save format expected): %w", image, err)
		}
		return img, nil
	}
	if strings.HasPrefix(image, "/") || strings.HasPrefix(image, ".") {
		return nil, fmt.Errorf("image %s: %w", image, statErr)
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, fmt.Errorf("image %q is neither a file, a directory nor a valid image reference: %w", image, err)
	}
	plat := v1.Platform{OS: "linux", Architecture: arch.GoArch()}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(plat),
		remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return nil, fmt.Errorf("pulling %s for linux/%s: %w", ref, plat.Architecture, err)
	}
	return img, nil
}

// ociPickImage picks the image for arch from an index, descending into
// nested indexes. An index with a single image and no platform gives that
// image.
func ociPickImage(idx v1.ImageIndex, arch flatcar.Arch, where string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index of %s: %w", where, err)
	}
	var seen []string
	for _, d := range im.Manifests {
		if d.Platform != nil {
			seen = append(seen, d.Platform.OS+"/"+d.Platform.Architecture)
			if d.Platform.OS != "linux" || d.Platform.Architecture != arch.GoArch() {
				continue
			}
		} else if len(im.Manifests) > 1 && !d.MediaType.IsIndex() {
			continue
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading index %s of %s: %w", d.Digest, where, err)
			}
			if img, err := ociPickImage(child, arch, where); err == nil {
				return img, nil
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s of %s: %w", d.Digest, where, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("no linux/%s image in %s (has %s): pick another architecture", arch.GoArch(), where, strings.Join(seen, ", "))
}

// ociArchiveIsLayout tells an OCI archive (oci-layout, no manifest.json)
// from a docker save archive.
func ociArchiveIsLayout(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", p, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	layoutFile, manifest := false, false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("reading archive %s: %w", p, err)
		}
		switch strings.TrimPrefix(hdr.Name, "./") {
		case "oci-layout":
			layoutFile = true
		case "manifest.json":
			manifest = true
		}
	}
	return layoutFile && !manifest, nil
}

// ociUnpackArchive unpacks an OCI archive (a tar of an image layout, as
// podman save --format oci-archive writes) into scratch/layout.
func ociUnpackArchive(ctx context.Context, image, scratch string) (string, error) {
	dir := filepath.Join(scratch, "layout")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating layout directory: %w", err)
	}
	f, err := os.Open(image)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", image, err)
	}
	defer f.Close()
	r, err := rootfs.Open(dir)
	if err != nil {
		return "", err
	}
	defer r.Close()
	a := &Applier{Root: r}
	if err := a.Apply(ctx, f); err != nil {
		return "", fmt.Errorf("unpacking OCI archive %s: %w", image, err)
	}
	return dir, nil
}

// ociRunAndExport runs o.Cmd in a container of the image and unpacks the
// container's exported file system.
func ociRunAndExport(ctx context.Context, o Options, arch flatcar.Arch, root string) error {
	engine, err := ociEngine(ctx, o.Engines)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.Image); err == nil {
		return fmt.Errorf("running a command needs a registry image, not the file %s: load it into %s first and pass its name", o.Image, filepath.Base(engine))
	}
	id := fmt.Sprintf("bake-os-oci-rootfs-%d", os.Getpid())
	run := child.Command(ctx, engine, "run", "--name", id, "--platform", "linux/"+arch.GoArch(), o.Image, "sh", "-c", o.Cmd)
	defer child.Command(context.Background(), engine, "rm", "--force", id).Run() //nolint:errcheck // best-effort cleanup
	if out, err := run.CombinedOutput(); err != nil {
		return fmt.Errorf("running %q in %s with %s: %w: %s", o.Cmd, o.Image, filepath.Base(engine), err, strings.TrimSpace(string(out)))
	}
	r, err := rootfs.Open(root)
	if err != nil {
		return err
	}
	defer r.Close()
	exp := child.Command(ctx, engine, "export", id)
	stdout, err := exp.StdoutPipe()
	if err != nil {
		return fmt.Errorf("exporting container: %w", err)
	}
	var stderr strings.Builder
	exp.Stderr = &stderr
	if err := exp.Start(); err != nil {
		return fmt.Errorf("exporting container with %s: %w", filepath.Base(engine), err)
	}
	a := &Applier{Root: r, Warn: o.Warn}
	applyErr := a.Apply(ctx, stdout)
	_, _ = io.Copy(io.Discard, stdout)
	if err := exp.Wait(); err != nil {
		return fmt.Errorf("exporting container with %s: %w: %s", filepath.Base(engine), err, strings.TrimSpace(stderr.String()))
	}
	if applyErr != nil {
		return fmt.Errorf("unpacking exported container: %w", applyErr)
	}
	return nil
}
