package bake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/sysext"
)

// usrOSRelease is the host's os-release inside USR-A (mounted at /usr).
const usrOSRelease = "lib/os-release"

// ImageOSRelease reads the os-release of the Flatcar image at image: the
// file lib/os-release of its USR-A partition (btrfs, read-only). USR-A is
// copied out sparsely into a temporary directory ($TMPDIR) and only that one file
// is restored from it ("btrfs restore --path-regex"); the image is only
// read.
func ImageOSRelease(ctx context.Context, image string) (*osrelease.Release, error) {
	if strings.HasSuffix(image, ".bz2") {
		return nil, fmt.Errorf("%s is compressed: decompress it first (bunzip2 -k %s)", image, image)
	}
	disk, err := gpt.Open(image)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", image, err)
	}
	usr, err := disk.ByLabel(flatcar.LabelUSRA)
	if err != nil {
		return nil, fmt.Errorf("finding USR-A in %s: %w", image, err)
	}
	work, err := atomicfile.MkdirTemp("", "usr")
	if err != nil {
		return nil, fmt.Errorf("creating a work directory for %s: %w", image, err)
	}
	defer atomicfile.Remove(work)
	src, err := os.Open(image)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	part := filepath.Join(work, "usr-a.img")
	if err := sparse.Extract(ctx, part, src, usr.Offset(), usr.Size()); err != nil {
		return nil, fmt.Errorf("copying USR-A out of %s: %w", image, err)
	}
	tree := filepath.Join(work, "usr")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return nil, err
	}
	cmd := child.Command(ctx, "btrfs", "restore", "--path-regex", `^/(|lib(|/os-release))$`, part, tree)
	runlog.Tool(runlog.From(ctx), cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("reading USR-A of %s (is it a Flatcar image?): btrfs restore: %w: %s", image, err, strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(filepath.Join(tree, usrOSRelease))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("USR-A of %s has no /usr/%s: not a Flatcar image", image, usrOSRelease)
		}
		return nil, err
	}
	rel, err := osrelease.ParseString(string(data))
	if err != nil {
		return nil, fmt.Errorf("parsing /usr/%s of %s: %w", usrOSRelease, image, err)
	}
	return rel, nil
}

// HostOf is the sysext host an os-release describes: its ID, VERSION_ID
// and SYSEXT_LEVEL, and the architecture from Flatcar's FLATCAR_BOARD
// (amd64-usr, arm64-usr) when set, else arch ("" for x86-64). An arch
// that contradicts FLATCAR_BOARD is an error.
func HostOf(rel *osrelease.Release, arch flatcar.Arch) (sysext.Host, error) {
	h := sysext.Host{ID: rel.Get("ID"), VersionID: rel.Get("VERSION_ID"), SysextLevel: rel.Get("SYSEXT_LEVEL"), Arch: arch}
	if h.ID == "" {
		h.ID = "linux" // os-release(5)'s default
	}
	if b := rel.Get("FLATCAR_BOARD"); b != "" {
		for _, a := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
			if a.Board() == b {
				h.Arch = a
			}
		}
		if arch != "" && h.Arch != arch {
			return h, fmt.Errorf("the os-release says FLATCAR_BOARD=%s (%s), not %s: drop --arch", b, h.Arch, arch)
		}
	}
	if h.Arch == "" {
		h.Arch = flatcar.ArchX86_64
	}
	return h, nil
}
