package torcx

// Torcx: convert a Torcx image tarball (Flatcar's old way of switching
// Docker versions) into a sysext tree, on a best-effort basis.

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/oci"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// Options say which Torcx tarball to convert.
type Options struct {
	// Tarball is the Torcx image (.torcx.tgz; gzip, xz, zstd, bzip2 or
	// plain tar).
	Tarball string
	// Name is the extension name.
	Name string
	// Keep leaves the tree as directory NAME beside the output image.
	Keep bool
	// Pack says how to pack the tree; Dir and Name are set by Torcx and
	// Reload is always on (the units must be picked up on merge).
	Pack sysextbuild.PackOptions
}

// Build converts a Torcx tarball: bin/ and lib/ move under usr/, .torcx/
// is dropped, units lose their Torcx environment file and torcx.target
// dependencies and get TORCX_BINDIR=/usr/bin, TORCX_UNPACKDIR=/ and an
// empty TORCX_IMAGEDIR instead, and each *.wants/UNIT link also becomes an
// Upholds=UNIT drop-in for the target (sysexts cannot enable units).
func Build(ctx context.Context, o Options) (*sysextbuild.PackResult, error) {
	o.Pack.Reload = true
	return sysextbuild.BuildAndPack(ctx, o.Name, o.Keep, o.Pack, func(dst string) error {
		return buildTorcxTree(ctx, o, dst)
	})
}

const torcxUnitDir = "usr/lib/systemd/system"

// buildTorcxTree writes the converted tree into dst (created, must not
// exist). It is Torcx without the packing.
func buildTorcxTree(ctx context.Context, o Options, dst string) error {
	if err := sysextbuild.CheckName(o.Name); err != nil {
		return err
	}
	f, err := os.Open(o.Tarball)
	if err != nil {
		return fmt.Errorf("opening Torcx tarball: %w", err)
	}
	defer f.Close()
	r, err := torcxDecompress(f)
	if err != nil {
		return fmt.Errorf("reading Torcx tarball %s: %w", o.Tarball, err)
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("creating tree %s: %w", dst, err)
	}
	root, err := rootfs.Open(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	a := &oci.Applier{Root: root, Warn: o.Pack.Warn}
	if err := a.Apply(ctx, r); err != nil {
		return fmt.Errorf("unpacking Torcx tarball %s: %w", o.Tarball, err)
	}
	if err := root.RemoveAll(".torcx"); err != nil {
		return fmt.Errorf("removing .torcx: %w", err)
	}
	for _, d := range []string{"bin", "lib"} {
		if err := torcxMoveUnder(root, d, "usr/"+d); err != nil {
			return err
		}
	}
	// The unit directory and its parents must be real directories: the
	// rewrite never goes through a symlink the tarball planted.
	if err := torcxRealDir(root, torcxUnitDir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	d, err := root.Open(torcxUnitDir)
	if err != nil {
		return fmt.Errorf("reading units: %w", err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("reading units: %w", err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		p := torcxUnitDir + "/" + e.Name()
		switch {
		case e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".service") || strings.HasSuffix(e.Name(), ".socket")):
			if err := torcxRewriteUnitFile(root, p); err != nil {
				return err
			}
		case e.IsDir() && strings.HasSuffix(e.Name(), ".wants"):
			if err := torcxUpholds(root, strings.TrimSuffix(e.Name(), ".wants")); err != nil {
				return err
			}
		}
	}
	return nil
}

// torcxRealDir checks that rel and all its parents are directories, not
// symlinks; os.ErrNotExist when one is missing.
func torcxRealDir(root *os.Root, rel string) error {
	cur := ""
	for _, part := range strings.Split(rel, "/") {
		cur = path.Join(cur, part)
		fi, err := root.Lstat(cur)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("Torcx tarball has /%s as a symlink: refusing to write through it", cur)
		}
		if !fi.IsDir() {
			return fmt.Errorf("Torcx tarball has /%s as a file where a directory is expected", cur)
		}
	}
	return nil
}

// torcxDecompress sniffs the compression of a tarball.
func torcxDecompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return xz.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	}
	return br, nil
}

// torcxMoveUnder moves from to to inside root, merging into an existing
// directory entry by entry. Neither side is followed through a symlink.
func torcxMoveUnder(root *os.Root, from, to string) error {
	fi, err := root.Lstat(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading /%s: %w", from, err)
	}
	if err := rootfs.MkdirAll(root, path.Dir(to)); err != nil {
		return fmt.Errorf("moving /%s to /%s: %w", from, to, err)
	}
	tfi, err := root.Lstat(to)
	if errors.Is(err, os.ErrNotExist) {
		if err := root.Rename(from, to); err != nil {
			return fmt.Errorf("moving /%s to /%s: %w", from, to, err)
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("reading /%s: %w", to, err)
	}
	if !fi.IsDir() || !tfi.IsDir() {
		return fmt.Errorf("Torcx tarball has both /%s and /%s and one is not a directory: cannot merge them", from, to)
	}
	d, err := root.OpenFile(from, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("tarball has both /%s and /%s: cannot merge: %w", from, to, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("tarball has both /%s and /%s: cannot merge: %w", from, to, err)
	}
	for _, e := range ents {
		if err := torcxMoveUnder(root, from+"/"+e.Name(), to+"/"+e.Name()); err != nil {
			return err
		}
	}
	if err := root.Remove(from); err != nil {
		return fmt.Errorf("tarball has both /%s and /%s with clashing entries: %w", from, to, err)
	}
	return nil
}

// torcxEnv replaces what /run/metadata/torcx used to provide.
var torcxEnv = []string{
	"Environment=TORCX_BINDIR=/usr/bin",
	"Environment=TORCX_UNPACKDIR=/",
	"Environment=TORCX_IMAGEDIR=",
}

func torcxRewriteUnitFile(root *os.Root, p string) error {
	f, err := rootfs.OpenRegular(root, p)
	if err != nil {
		return fmt.Errorf("reading unit: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reading unit: %w", err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading unit: %w", err)
	}
	out := torcxRewriteUnit(string(b))
	if err := rootfs.WriteFile(root, p, strings.NewReader(out), fi.Mode().Perm()); err != nil {
		return fmt.Errorf("rewriting unit %s: %w", path.Base(p), err)
	}
	return nil
}

// torcxRewriteUnit drops the Torcx environment file and torcx.target
// dependencies and sets the Torcx variables at the start of [Service].
func torcxRewriteUnit(unit string) string {
	var b strings.Builder
	lines := strings.SplitAfter(unit, "\n")
	for _, raw := range lines {
		line := strings.TrimRight(raw, "\r\n")
		key, val, isKV := strings.Cut(strings.TrimSpace(line), "=")
		key = strings.TrimSpace(key)
		switch {
		case isKV && key == "EnvironmentFile" && strings.TrimPrefix(strings.TrimSpace(val), "-") == "/run/metadata/torcx":
			continue
		case isKV && key == "Environment" && torcxSetsVar(val):
			continue
		case isKV && (key == "After" || key == "Requires" || key == "Wants" || key == "BindsTo" || key == "PartOf" || key == "Requisite"):
			var keep []string
			for _, u := range strings.Fields(val) {
				if u != "torcx.target" {
					keep = append(keep, u)
				}
			}
			if len(keep) == 0 {
				continue
			}
			if len(keep) != len(strings.Fields(val)) {
				raw = key + "=" + strings.Join(keep, " ") + "\n"
			}
		}
		b.WriteString(raw)
		if strings.TrimSpace(line) == "[Service]" {
			if !strings.HasSuffix(raw, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(strings.Join(torcxEnv, "\n") + "\n")
		}
	}
	return b.String()
}

// torcxSetsVar tells whether an Environment= value sets a TORCX_ variable
// that the rewrite provides itself.
func torcxSetsVar(val string) bool {
	v := strings.Trim(strings.TrimSpace(val), `"`)
	for _, n := range []string{"TORCX_BINDIR=", "TORCX_UNPACKDIR=", "TORCX_IMAGEDIR="} {
		if strings.HasPrefix(v, n) {
			return true
		}
	}
	return false
}

// torcxUpholds writes TARGET.d/10-UNIT.conf with Upholds=UNIT for each
// entry of TARGET.wants/.
func torcxUpholds(root *os.Root, target string) error {
	d, err := root.OpenFile(torcxUnitDir+"/"+target+".wants", os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("reading %s.wants: %w", target, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("reading %s.wants: %w", target, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil
	}
	dropins := torcxUnitDir + "/" + target + ".d"
	if err := rootfs.MkdirAll(root, dropins); err != nil {
		return fmt.Errorf("creating %s.d: %w", target, err)
	}
	for _, unit := range names {
		conf := dropins + "/10-" + strings.Replace(unit, ".", "-", 1) + ".conf"
		if err := rootfs.WriteFile(root, conf, strings.NewReader("[Unit]\nUpholds="+unit+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing drop-in for %s: %w", unit, err)
		}
	}
	return nil
}
