package vendors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
)

// bundle makes a vendor's files: its main output (the vendor row's File)
// and the files it ships beside or around it (the row's Extras, one name
// per role). Each bundle is one file of this package and is listed in
// bundles; the vendor row names its bundle (Vendor.Bundle).
type bundle interface {
	// Name is the bundle's unique name, as a vendor row's Bundle gives it.
	Name() string
	// Files declares every file the bundle writes, the main output (role
	// roleMain) first. Build writes exactly these files, under the names
	// the vendor row gives their roles.
	Files() []bundleFile
	// Build writes the files through c, which also gives it its inputs:
	// the prepared disk, or the kernel and /usr initrd of live media.
	Build(ctx context.Context, c *bundleContext) error
}

// checker is implemented by bundles that need more than the vendor's disk
// writer (tools, firmware, boot loader files): Check runs before any work,
// in Preflight and in Build.
type checker interface {
	Check(ctx context.Context, c *checkContext) error
}

// roleMain is the role of a bundle's main output, the vendor row's File.
const roleMain = "main"

// bundleFile is one file a bundle declares.
type bundleFile struct {
	// Role names the file within the bundle; the vendor row's Extras map
	// it to a file name (roleMain: the row's File).
	Role string
	// Kind is the Artifact kind: disk, archive, config, script,
	// firmware, readme, kernel, initrd or iso.
	Kind string
	// Compress says the release compressions (--compress) apply; only
	// the main output may have it.
	Compress bool
	// IgnitionOnly files are written only when the build carries an
	// Ignition config (BuildOptions.Ignition).
	IgnitionOnly bool
}

// bundles lists every bundle, in a stable order. The list is explicit:
// adding a bundle means adding it here.
func bundles() []bundle {
	return []bundle{
		diskBundle{},
		qemuUEFIBundle{},
		vmxBundle{},
		ovaBundle{},
		ovfBundle{},
		gceBundle{},
		vagrantBundle{},
		vagrantParallelsBundle{},
		parallelsBundle{},
		xenBundle{},
		isoBundle{},
		pxeBundle{},
		usbBundle{},
	}
}

// lookupBundle returns the bundle called name; "" is the plain disk.
func lookupBundle(name string) (bundle, error) {
	if name == "" {
		name = diskBundleName
	}
	var names []string
	for _, b := range bundles() {
		if b.Name() == name {
			return b, nil
		}
		names = append(names, b.Name())
	}
	return nil, fmt.Errorf("unknown bundle %q: use one of %s", name, strings.Join(names, ", "))
}

// bundle returns v's bundle; checkTable makes sure it exists.
func (v Vendor) bundle() bundle {
	b, err := lookupBundle(v.Bundle)
	if err != nil {
		panic("vendors: " + v.Name + ": " + err.Error())
	}
	return b
}

// fileName is the name the vendor row gives a role of its bundle.
func (v Vendor) fileName(role string) string {
	if role == roleMain {
		return v.File
	}
	return v.Extras[role]
}

// mainFile is the declaration of the bundle's main output.
func mainFile(b bundle) bundleFile {
	for _, f := range b.Files() {
		if f.Role == roleMain {
			return f
		}
	}
	panic("vendors: bundle " + b.Name() + " declares no main output")
}

// outputNames lists the final file names of v for comps and with or
// without an Ignition config: the main output (and its compressed copies)
// first, then the bundle's other files in declaration order.
func (v Vendor) outputNames(comps []Compression, withIgnition bool) []string {
	var out []string
	for _, c := range comps {
		out = append(out, v.File+c.Ext())
	}
	for _, f := range v.bundle().Files() {
		if f.Role == roleMain || (f.IgnitionOnly && !withIgnition) {
			continue
		}
		out = append(out, v.fileName(f.Role))
	}
	return out
}

// OutputNames lists the file names v writes into the output directory for
// a --compress list (as BuildOptions.Compress) and with or without an
// Ignition config carried (BuildOptions.Ignition): what the overwrite
// checks and --json see.
func (v Vendor) OutputNames(compress string, withIgnition bool) ([]string, error) {
	var override []Compression
	if compress != "" {
		var err error
		if override, err = ParseCompressions(compress); err != nil {
			return nil, err
		}
	}
	return v.outputNames(v.compressions(override), withIgnition), nil
}

// Live reports whether v is live media (iso, pxe): it boots the kernel
// and a /usr initrd and has no partitioned disk, so no OEM partition.
func (v Vendor) Live() bool { return !v.Partitioned() }

// checkBundle panics on a vendor row that does not fit its bundle (a
// programming error): an unknown bundle, Extras not naming exactly the
// bundle's roles, or a misdeclared bundle.
func checkBundle(v Vendor) {
	b, err := lookupBundle(v.Bundle)
	if err != nil {
		panic("vendors: " + v.Name + ": " + err.Error())
	}
	var roles []string
	for i, f := range b.Files() {
		if (i == 0) != (f.Role == roleMain) {
			panic("vendors: bundle " + b.Name() + ": the main output must be declared first, and once")
		}
		if f.Compress && f.Role != roleMain {
			panic("vendors: bundle " + b.Name() + ": only the main output may be compressed")
		}
		if f.Role == roleMain {
			continue
		}
		if slices.Contains(roles, f.Role) {
			panic("vendors: bundle " + b.Name() + " declares role " + f.Role + " twice")
		}
		roles = append(roles, f.Role)
		if v.Extras[f.Role] == "" {
			panic("vendors: " + v.Name + " names no file for its bundle's " + f.Role)
		}
	}
	for r := range v.Extras {
		if !slices.Contains(roles, r) {
			panic("vendors: " + v.Name + " names a file for " + r + ", which bundle " + b.Name() + " does not write")
		}
	}
}

// checkContext is what a bundle's Check works from and records.
type checkContext struct {
	o    BuildOptions
	arch flatcar.Arch
	// tools are looked up with the build's other tools.
	tools []string
	// firmware is the UEFI firmware the bundle resolved (qemu_uefi).
	firmware firmware
}

// bundleContext is what a bundle's Build works from and writes through.
type bundleContext struct {
	b *builder
	j job
	// src is the prepared raw disk; "" for live media.
	src string
	// staged maps each role written to its temp file.
	staged map[string]string
}

func (c *bundleContext) vendor() Vendor        { return c.j.v }
func (c *bundleContext) options() BuildOptions { return c.b.plan.o }
func (c *bundleContext) arch() flatcar.Arch    { return c.b.plan.arch }
func (c *bundleContext) version() string       { return c.b.plan.version }
func (c *bundleContext) workers() int          { return c.b.workers }

// name is the final file name of role.
func (c *bundleContext) name(role string) string { return c.j.v.fileName(role) }

// stem is the main output's name without its extension.
func (c *bundleContext) stem() string {
	return strings.TrimSuffix(c.j.v.File, filepath.Ext(c.j.v.File))
}

// declared returns the declaration of role, or an error naming the
// bundle's mistake.
func (c *bundleContext) declared(role string) (bundleFile, error) {
	for _, f := range c.j.bundle.Files() {
		if f.Role == role {
			return f, nil
		}
	}
	return bundleFile{}, fmt.Errorf("bundle %s writes %q, which it does not declare", c.j.bundle.Name(), role)
}

// create stages the output file of role and returns its temp path (an
// empty file in the output directory).
func (c *bundleContext) create(role string) (string, error) {
	f, err := c.declared(role)
	if err != nil {
		return "", err
	}
	if _, dup := c.staged[role]; dup {
		return "", fmt.Errorf("bundle %s writes %s twice", c.j.bundle.Name(), role)
	}
	p, err := c.b.st.temp(c.j.v.Name, f.Kind, c.name(role))
	if err != nil {
		return "", err
	}
	c.staged[role] = p
	return p, nil
}

// writeFile stages the small file of role with data.
func (c *bundleContext) writeFile(role string, data []byte, mode os.FileMode) error {
	p, err := c.create(role)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// writeTo stages the file of role and calls fn with it open.
func (c *bundleContext) writeTo(role string, fn func(f *os.File) error) error {
	p, err := c.create(role)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := fn(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", c.name(role), err)
	}
	return nil
}

// mainDisk writes the vendor's disk format as the main output.
func (c *bundleContext) mainDisk(ctx context.Context) (string, error) {
	p, err := c.create(roleMain)
	if err != nil {
		return "", err
	}
	return p, c.b.writeMainDisk(ctx, c.j.v, c.src, p)
}

// workDisk writes the vendor's disk format into the work directory as
// name (for bundles that wrap it) and returns its path and size; the
// caller removes it.
func (c *bundleContext) workDisk(ctx context.Context, name string) (string, int64, error) {
	p := filepath.Join(c.b.work, name)
	if err := writeDisk(ctx, c.j.v.Disk, c.src, p, name, c.b.workers, c.b.rep); err != nil {
		return "", 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", 0, err
	}
	return p, st.Size(), nil
}

// workDir is a scratch directory of the build (removed at its end).
func (c *bundleContext) workDir() string { return c.b.work }

// capacity is the virtual size of the vendor's disk.
func (c *bundleContext) capacity() (int64, error) {
	if c.j.v.Disk.VirtualSize != 0 {
		return c.j.v.Disk.VirtualSize, nil
	}
	st, err := os.Stat(c.src)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// live returns the kernel and the /usr initrd of live media, made once
// per build.
func (c *bundleContext) live(ctx context.Context) (kernel, initrd string, err error) {
	if err := c.b.bootFiles(ctx); err != nil {
		return "", "", err
	}
	return c.b.kernel, c.b.initrd, nil
}

// liveMedium is what a bootable live medium (iso, usb) is made of: the
// kernel, the /usr initrd, the Ignition initrd when the build carries a
// config ("" otherwise), the main output's path and a scratch directory.
type liveMedium struct{ kernel, initrd, ignition, out, work string }

// liveMedium makes the live files and creates the main output.
func (c *bundleContext) liveMedium(ctx context.Context) (liveMedium, error) {
	var m liveMedium
	var err error
	if m.kernel, m.initrd, err = c.live(ctx); err != nil {
		return m, err
	}
	if m.out, err = c.create(roleMain); err != nil {
		return m, err
	}
	m.work = filepath.Join(c.workDir(), c.vendor().Bundle+"-"+c.vendor().Name)
	if err := os.MkdirAll(m.work, 0o755); err != nil {
		return m, err
	}
	if config := c.options().Ignition; config != nil {
		m.ignition = filepath.Join(m.work, "ignition.cpio.gz")
		if err := writeIgnitionInitrdFile(ctx, m.ignition, config); err != nil {
			return m, err
		}
	}
	return m, nil
}

// grubESPTools are the tools that put GRUB on a FAT ESP (iso, usb).
var grubESPTools = []string{"grub-mkimage", "mkfs.vfat", "mmd", "mcopy"}

// setCmdline records the kernel command line to boot the file of role
// with (Artifact.Cmdline).
func (c *bundleContext) setCmdline(role, line string) { c.b.cmdlines[c.name(role)] = line }
