package testimage

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	dgpt "github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/uuid"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/osrelease"
	"github.com/bake-os/bake-os/sparse"
)

// MBRMarker fills MBR bytes 0-439 of generated images, standing in for
// GRUB's boot code so tests can check it survives every write.
var MBRMarker = func() []byte {
	b := make([]byte, 440)
	pat := []byte("bake-os test MBR boot code ")
	for i := range b {
		b[i] = pat[i%len(pat)]
	}
	return b
}()

// Options says what to put in the generated image.
type Options struct {
	Arch    flatcar.Arch // default x86-64
	Version string       // Flatcar version, default "4593.2.5"
	// OEMFiles are extra files placed in OEM (path -> content), to check
	// that edits keep existing contents.
	OEMFiles map[string]string
	// UUIDSeed varies the filesystem UUIDs (which are otherwise fixed).
	// Tests that mount an image use their own seed: the kernel remembers
	// a mounted btrfs UUID, and mkfs.btrfs then refuses to reuse it.
	UUIDSeed string
	// RootFiles are extra files placed in ROOT.
	RootFiles map[string]string
	// USRTree, when set, is a host directory whose contents are copied
	// into USR-A (which is /usr on a booted system) before os-release and
	// the other generated files; benchmarks use it to fill USR-A with
	// release-sized data.
	USRTree string
	// ESPTree, when set, is a host directory whose contents are copied
	// into the ESP after the generated files, replacing any of them with
	// the same path (for example a real-sized flatcar/vmlinuz-a).
	ESPTree string
}

// RequiredTools are the executables Generate needs.
var RequiredTools = []string{"mkfs.vfat", "mmd", "mcopy", "mkfs.btrfs", "mke2fs"}

// Generate writes a Flatcar-layout image to path (and version.txt beside it).
func Generate(ctx context.Context, path string, o Options) error {
	if o.Arch == "" {
		o.Arch = flatcar.ArchX86_64
	}
	if o.Version == "" {
		o.Version = "4593.2.5"
	}
	for _, t := range RequiredTools {
		if _, err := child.LookPath(t); err != nil {
			return fmt.Errorf("generating test image: %w", err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".testimage-*")
	if err != nil {
		return fmt.Errorf("creating work dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	base := flatcar.Layouts["base"]
	if err := f.Truncate(base.DiskBytes()); err != nil {
		return fmt.Errorf("sizing %s: %w", path, err)
	}
	if _, err := f.WriteAt(MBRMarker, 0); err != nil {
		return fmt.Errorf("writing MBR marker: %w", err)
	}
	if err := writeTable(f, base.DiskBytes()); err != nil {
		return err
	}
	for _, p := range flatcar.BaseLayout {
		var err error
		switch p.Label {
		case flatcar.LabelESP:
			err = makeESP(ctx, f, p, tmp, o)
		case flatcar.LabelUSRA:
			err = makeBtrfs(ctx, f, p, tmp, o.UUIDSeed, o.USRTree, usrTree(o))
		case flatcar.LabelOEM:
			err = makeBtrfs(ctx, f, p, tmp, o.UUIDSeed, "", o.OEMFiles)
		case flatcar.LabelROOT:
			err = makeRoot(ctx, f, p, tmp, o)
		}
		if err != nil {
			return fmt.Errorf("making %s: %w", p.Label, err)
		}
	}
	n := strings.Split(o.Version, ".")
	vt := osrelease.VersionTxt{Build: n[0], Branch: n[1], Patch: n[2], Version: o.Version, VersionID: o.Version, SDKVersion: o.Version}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), osrelease.VersionTxtFile), []byte(vt.String()), 0o644); err != nil {
		return fmt.Errorf("writing version.txt: %w", err)
	}
	return f.Sync()
}

// UniqueGUID returns the unique GUID the generator gives partition p.
func UniqueGUID(p flatcar.PartitionSpec) string {
	if p.UniqueGUID != "" {
		return p.UniqueGUID
	}
	return uuid.NewHash(sha1.New(), uuid.NameSpaceOID, []byte("bake-os testimage "+p.Label), 5).String()
}

func writeTable(f *os.File, size int64) error {
	t := &dgpt.Table{
		LogicalSectorSize:  flatcar.SectorSize,
		PhysicalSectorSize: flatcar.SectorSize,
		ProtectiveMBR:      true,
		GUID:               flatcar.DiskGUID,
	}
	for _, p := range flatcar.BaseLayout {
		t.Partitions = append(t.Partitions, &dgpt.Partition{
			Index:      p.Number,
			Start:      p.FirstSector,
			End:        p.FirstSector + p.Sectors - 1,
			Size:       p.Sectors * flatcar.SectorSize,
			Type:       dgpt.Type(strings.ToUpper(p.TypeGUID)),
			Name:       p.Label,
			GUID:       UniqueGUID(p),
			Attributes: p.Attributes,
		})
	}
	if err := t.Write(f, size); err != nil {
		return fmt.Errorf("writing GPT: %w", err)
	}
	return nil
}

func usrTree(o Options) map[string]string {
	osr := fmt.Sprintf(`NAME="Flatcar Container Linux by Kinvolk"
ID=flatcar
ID_LIKE=coreos
VERSION=%[1]s
VERSION_ID=%[1]s
BUILD_ID=""
SYSEXT_LEVEL=1.0
PRETTY_NAME="Flatcar Container Linux by Kinvolk %[1]s (Oklo)"
ANSI_COLOR="38;5;75"
HOME_URL="https://flatcar.org/"
BUG_REPORT_URL="https://issues.flatcar.org"
FLATCAR_BOARD="%[2]s"
CPE_NAME="cpe:2.3:o:flatcar-linux:flatcar_linux:%[1]s:*:*:*:*:*:*:*"
`, o.Version, o.Arch.Board())
	return map[string]string{
		"lib/os-release":          osr,
		"share/flatcar/release":   fmt.Sprintf("FLATCAR_RELEASE_VERSION=%s\nFLATCAR_RELEASE_BOARD=%s\n", o.Version, o.Arch.Board()),
		"bin/true-but-not-really": "#!/bin/sh\nexit 0\n",
	}
}

// writeTree writes files (path -> content) under dir, with 0755 dirs.
func writeTree(dir string, files map[string]string) error {
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		// Replace, never write through, what a copied tree put there.
		if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(c, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fixedUUID derives a stable filesystem UUID for a label and seed.
func fixedUUID(seed, label string) string {
	return uuid.NewHash(sha1.New(), uuid.NameSpaceOID, []byte("bake-os testimage fs "+seed+label), 5).String()
}

func makeESP(ctx context.Context, f *os.File, p flatcar.PartitionSpec, tmp string, o Options) error {
	kib := p.Sectors * flatcar.SectorSize / 1024
	if err := run(ctx, nil, "mkfs.vfat", "-F", "32", "-n", flatcar.LabelESP, "-i", "0a0b0c0d",
		fmt.Sprintf("--offset=%d", p.FirstSector), f.Name(), fmt.Sprint(kib)); err != nil {
		return err
	}
	efi := "bootx64.efi"
	if o.Arch == flatcar.ArchARM64 {
		efi = "bootaa64.efi"
	}
	src := filepath.Join(tmp, "esp")
	files := map[string]string{
		"flatcar/vmlinuz-a":         "fake Flatcar kernel for " + string(o.Arch) + "\n",
		"EFI/boot/" + efi:           "fake EFI loader\n",
		"flatcar/grub/grub.cfg.tar": "fake grub config\n",
	}
	if err := writeTree(src, files); err != nil {
		return err
	}
	if o.ESPTree != "" {
		if err := copyTree(ctx, o.ESPTree, src); err != nil {
			return err
		}
	}
	img := fmt.Sprintf("%s@@%d", f.Name(), int64(p.FirstSector)*flatcar.SectorSize)
	env := []string{"MTOOLS_SKIP_CHECK=1"}
	// WalkDir visits a directory before its contents, so mmd sees parents first.
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == src {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		dst := "::/" + filepath.ToSlash(rel)
		if d.IsDir() {
			return run(ctx, env, "mmd", "-i", img, dst)
		}
		return run(ctx, env, "mcopy", "-i", img, path, dst)
	})
}

// copyTree copies the contents of the host directory src into dst
// (created if needed), keeping modes, links and hard links.
func copyTree(ctx context.Context, src, dst string) error {
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return fmt.Errorf("tree %s is not a directory", src)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return run(ctx, nil, "cp", "-a", "--reflink=auto", src+"/.", dst+"/")
}

// makeBtrfs makes a btrfs filesystem the size of p holding the contents of
// the host directory tree (if any) and files, in a partition-sized temp
// file, then copies it into place sparsely.
func makeBtrfs(ctx context.Context, f *os.File, p flatcar.PartitionSpec, tmp, seed, tree string, files map[string]string) error {
	dir := filepath.Join(tmp, p.Label+"-tree")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if tree != "" {
		if err := copyTree(ctx, tree, dir); err != nil {
			return err
		}
	}
	if err := writeTree(dir, files); err != nil {
		return err
	}
	part := filepath.Join(tmp, p.Label+".img")
	size := int64(p.Sectors) * flatcar.SectorSize
	if err := os.WriteFile(part, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(part, size); err != nil {
		return err
	}
	if err := run(ctx, nil, "mkfs.btrfs", "-q", "--mixed", "-m", "single", "-d", "single",
		"--byte-count", fmt.Sprint(size), "--label", p.Label, "-U", fixedUUID(seed, p.Label),
		"--rootdir", dir, part); err != nil {
		return err
	}
	pf, err := os.Open(part)
	if err != nil {
		return err
	}
	defer pf.Close()
	return sparse.CopyRange(ctx, f, pf, int64(p.FirstSector)*flatcar.SectorSize, 0, size, nil)
}

func makeRoot(ctx context.Context, f *os.File, p flatcar.PartitionSpec, tmp string, o Options) error {
	off := int64(p.FirstSector) * flatcar.SectorSize
	blocks := int64(p.Sectors) * flatcar.SectorSize / 4096
	u := fixedUUID(o.UUIDSeed, p.Label)
	args := []string{"-q", "-F", "-t", "ext4", "-b", "4096", "-i", "4096", "-I", "256",
		"-L", flatcar.LabelROOT, "-e", "remount-ro", "-U", u,
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s", off, u)}
	if len(o.RootFiles) > 0 {
		dir := filepath.Join(tmp, "root-tree")
		if err := writeTree(dir, o.RootFiles); err != nil {
			return err
		}
		args = append(args, "-d", dir)
	}
	args = append(args, f.Name(), fmt.Sprint(blocks))
	return run(ctx, []string{"E2FSPROGS_FAKE_TIME=1700000000"}, "mke2fs", args...)
}
