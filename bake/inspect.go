package bake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sysext"
)

// PartitionInfo is one partition in an inspection.
type PartitionInfo struct {
	Number     int    `json:"number"`
	Label      string `json:"label"`
	Type       string `json:"type"`
	TypeGUID   string `json:"type_guid"`
	UniqueGUID string `json:"unique_guid"`
	Start      uint64 `json:"start_sector"`
	Sectors    uint64 `json:"sectors"`
	Size       int64  `json:"size"`
	Attributes string `json:"attributes"`
	Filesystem string `json:"filesystem"`
}

// ExtensionInfo is one NAME.raw in /etc/extensions or /var/lib/extensions.
type ExtensionInfo struct {
	Name    string            `json:"name"`
	Link    string            `json:"link"` // the entry, e.g. /etc/extensions/NAME.raw
	Target  string            `json:"target"`
	Masked  bool              `json:"masked,omitempty"`
	Release map[string]string `json:"extension_release,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// SysupdateInfo is one sysupdate transfer file.
type SysupdateInfo struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// OEMSysextInfo is one sysext image in OEM's /sysext (Flatcar's OEM
// sysexts, oem-ID-VERSION.raw, and sysexts baked there).
type OEMSysextInfo struct {
	Path    string            `json:"path"` // in OEM, e.g. /sysext/oem-qemu-4593.2.5.raw
	Name    string            `json:"name,omitempty"`
	Release map[string]string `json:"extension_release,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// Inspection is what Inspect reports.
type Inspection struct {
	Image      string          `json:"image"`
	DiskGUID   string          `json:"disk_guid"`
	Size       int64           `json:"size"`
	Partitions []PartitionInfo `json:"partitions"`
	Extensions []ExtensionInfo `json:"extensions"`
	Sysupdate  []SysupdateInfo `json:"sysupdate"`
	Masks      []string        `json:"masks"`
	// OEMSysexts are the images in OEM's /sysext; ActiveOEM the IDs of
	// its active-oem-ID markers (the OEM sysext Flatcar enables).
	OEMSysexts []OEMSysextInfo `json:"oem_sysexts"`
	ActiveOEM  []string        `json:"active_oem"`
	// Ignition is OEM /config.ign, the config Flatcar's first boot
	// applies, when the image holds one.
	Ignition *IgnitionInfo `json:"ignition,omitempty"`
	// FlatcarExtensions is ROOT's enabled-sysext.conf and the images in
	// /etc/flatcar/sysext, when the image has either.
	FlatcarExtensions *FlatcarExtensionsInfo `json:"flatcar_extensions,omitempty"`
	// KernelArgs are the arguments OEM /grub.cfg appends to the kernel
	// command line (its linux_append, evaluated); nil without a grub.cfg.
	KernelArgs []string `json:"kernel_args,omitempty"`
	// OEMError says why OEM could not be listed (e.g. btrfs-progs
	// missing); the rest of the inspection stands.
	OEMError string `json:"oem_error,omitempty"`
}

// notRawDisk names a disk image format that is not a raw disk (or a
// compressed one), from its first bytes and its last sector; "" if none.
func notRawDisk(f *os.File) string {
	head := make([]byte, 64)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return "a qcow2 disk"
	case bytes.HasPrefix(head, []byte("KDMV")), bytes.HasPrefix(head, []byte("# Disk DescriptorFile")):
		return "a vmdk disk"
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return "a vhdx disk"
	case bytes.HasPrefix(head, []byte("conectix")):
		return "a vhd disk"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2-compressed"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip-compressed"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz-compressed"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd-compressed"
	}
	// A fixed vhd is a raw disk with a 512-byte footer.
	if st, err := f.Stat(); err == nil && st.Size() >= 1024 {
		foot := make([]byte, 8)
		if _, err := f.ReadAt(foot, st.Size()-512); err == nil && string(foot) == "conectix" {
			return "a vhd disk"
		}
	}
	return ""
}

// Inspect reads a (baked) Flatcar image without changing it. Temporary
// files (OEM's unpacked tree, dumped sysexts) are removed before it
// returns.
func Inspect(ctx context.Context, image string) (*Inspection, error) {
	if f, err := os.Open(image); err == nil {
		kind := notRawDisk(f)
		f.Close()
		switch {
		case strings.HasSuffix(kind, "-compressed"):
			return nil, fmt.Errorf("%s is %s: inspect the decompressed raw image", image, kind)
		case kind != "":
			return nil, fmt.Errorf("%s is %s: inspect the raw image or convert it (qemu-img convert -O raw %s %s.raw)",
				image, kind, image, strings.TrimSuffix(image, path.Ext(image)))
		}
	}
	disk, err := gpt.Open(image)
	if err != nil {
		return nil, err
	}
	if err := disk.CheckFlatcar(); err != nil {
		return nil, err
	}
	f, err := os.Open(image)
	if err != nil {
		return nil, fmt.Errorf("opening image: %w", err)
	}
	defer f.Close()
	in := &Inspection{Image: image, DiskGUID: disk.GUID, Size: disk.Size, Masks: []string{}, Extensions: []ExtensionInfo{},
		Sysupdate: []SysupdateInfo{}, OEMSysexts: []OEMSysextInfo{}, ActiveOEM: []string{}}
	oemFS := ""
	for _, p := range disk.Partitions {
		fsType, _ := partitions.Detect(f, p.Offset(), p.Size())
		if p.Label == flatcar.LabelOEM {
			oemFS = fsType
		}
		in.Partitions = append(in.Partitions, PartitionInfo{
			Number: p.Number, Label: p.Label, Type: p.TypeName(), TypeGUID: p.TypeGUID, UniqueGUID: p.UniqueGUID,
			Start: p.FirstLBA, Sectors: p.Sectors(), Size: p.Size(), Attributes: fmt.Sprintf("%016x", p.Attributes), Filesystem: fsType,
		})
	}
	rootPart, _ := disk.ByLabel(flatcar.LabelROOT)
	root, err := partitions.OpenExt4(image, rootPart.Offset(), partitions.Ext4Options{})
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var oem partitions.Editor
	tmp := ""
	openOEM := func() (partitions.Editor, error) {
		if oem != nil {
			return oem, nil
		}
		p, err := disk.ByLabel(flatcar.LabelOEM)
		if err != nil {
			return nil, err
		}
		if tmp, err = atomicfile.MkdirTemp("", "inspect"); err != nil {
			return nil, err
		}
		b, err := partitions.OpenBtrfs(ctx, image, p.Offset(), p.Size(), partitions.BtrfsOptions{WorkDir: tmp})
		if err != nil {
			return nil, err
		}
		oem = b
		return b, nil
	}
	defer func() {
		if oem != nil {
			oem.Close()
		}
		if tmp != "" {
			atomicfile.Remove(tmp)
		}
	}()
	for _, dir := range sysext.Dirs {
		if dir == "/run/extensions" {
			continue // a tmpfs at runtime: nothing in ROOT
		}
		ents, err := root.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name, ".raw") {
				continue
			}
			name := strings.TrimSuffix(e.Name, ".raw")
			ei := ExtensionInfo{Name: name, Link: path.Join(dir, e.Name), Target: e.LinkTarget}
			switch {
			case e.LinkTarget == "/dev/null":
				ei.Masked = true
				in.Masks = append(in.Masks, name)
			case e.Mode&fs.ModeSymlink == 0:
				ei.Target = ei.Link
				ei.Release, ei.Error = release(root, ei.Target, name)
			case strings.HasPrefix(e.LinkTarget, oemMount+"/"):
				ed, err := openOEM()
				if err != nil {
					ei.Error = err.Error()
					break
				}
				ei.Release, ei.Error = release(ed, strings.TrimPrefix(e.LinkTarget, oemMount), name)
			default:
				target := e.LinkTarget
				if !path.IsAbs(target) {
					target = path.Join(dir, target)
				}
				ei.Release, ei.Error = release(root, target, name)
			}
			in.Extensions = append(in.Extensions, ei)
		}
	}
	in.FlatcarExtensions = inspectFlatcarExtensions(root)
	dirs, err := root.ReadDir("/etc")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, d := range dirs {
		if !d.Mode.IsDir() || !strings.HasPrefix(d.Name, "sysupdate.") || !strings.HasSuffix(d.Name, ".d") {
			continue
		}
		confs, err := root.ReadDir("/etc/" + d.Name)
		if err != nil {
			return nil, err
		}
		for _, c := range confs {
			if !strings.HasSuffix(c.Name, ".conf") {
				continue
			}
			p := "/etc/" + d.Name + "/" + c.Name
			data, err := readAll(root, p)
			if err != nil {
				return nil, err
			}
			in.Sysupdate = append(in.Sysupdate, SysupdateInfo{Path: p, Content: data})
		}
	}
	if oemFS == partitions.FSBtrfs {
		ed, err := openOEM()
		if err == nil {
			err = inspectOEM(ed, in)
		}
		if err != nil {
			in.OEMError = fmt.Sprintf("reading the image's OEM partition: %v", err)
		}
	}
	return in, nil
}

// IgnitionInfo describes the Ignition config an image holds.
type IgnitionInfo struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Version string `json:"spec_version,omitempty"`
	Error   string `json:"error,omitempty"` // why Ignition's validator refuses it
}

// inspectOEM lists OEM's /config.ign and /sysext: its images and
// active-oem-ID markers.
func inspectOEM(oem partitions.Editor, in *Inspection) error {
	if fi, err := oem.Stat(provision.OEMConfigPath); err == nil {
		info := &IgnitionInfo{Path: provision.OEMConfigPath, Size: fi.Size}
		if ign, err := readOEMConfig(oem, ""); err != nil {
			info.Error = err.Error()
		} else {
			info.Version = ign.Version
		}
		in.Ignition = info
	}
	if fi, err := oem.Stat(provision.OEMGrubPath); err == nil && fi.Mode.IsRegular() {
		cfg, err := readAll(oem, provision.OEMGrubPath)
		if err != nil {
			return fmt.Errorf("reading the image's OEM %s: %w", provision.OEMGrubPath, err)
		}
		in.KernelArgs = provision.KernelArgs(cfg)
	}
	ents, err := oem.ReadDir("/sysext")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the image's OEM /sysext: %w", err)
	}
	for _, e := range ents {
		p := "/sysext/" + e.Name
		switch {
		case strings.HasPrefix(e.Name, "active-oem-"):
			in.ActiveOEM = append(in.ActiveOEM, strings.TrimPrefix(e.Name, "active-oem-"))
		case strings.HasSuffix(e.Name, ".raw") && e.Mode.IsRegular():
			si := OEMSysextInfo{Path: p}
			// oem-ID-VERSION.raw carries extension-release.oem-ID; a
			// sysext baked here is usually NAME.raw or NAME-VERSION.raw.
			base := strings.TrimSuffix(e.Name, ".raw")
			cands := []string{base}
			if i := strings.IndexByte(strings.TrimPrefix(base, "oem-"), '-'); strings.HasPrefix(base, "oem-") && i >= 0 {
				cands = append(cands, base[:len("oem-")+i])
			} else if i := strings.IndexByte(base, '-'); i > 0 {
				cands = append(cands, base[:i])
			}
			for _, name := range cands {
				rel, msg := release(oem, p, name)
				if msg == "" {
					si.Name, si.Release, si.Error = name, rel, ""
					break
				}
				if si.Error == "" {
					si.Error = msg
				}
			}
			in.OEMSysexts = append(in.OEMSysexts, si)
		}
	}
	return nil
}

func readAll(ed partitions.Editor, p string) (string, error) {
	r, err := ed.Open(p)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	return string(b), err
}

// release reads the extension-release of the sysext image at p in ed.
func release(ed partitions.Editor, p, name string) (map[string]string, string) {
	r, err := ed.Open(p)
	if err != nil {
		return nil, err.Error()
	}
	defer r.Close()
	if f, ok := r.(interface{ Name() string }); ok {
		// Both editors hand out a local file: read it in place.
		rel, err := sysext.ReadRelease(f.Name(), name)
		if err != nil {
			return nil, err.Error()
		}
		return rel.Map(), ""
	}
	tmp, err := atomicfile.CreateTemp("", name+".raw")
	if err != nil {
		return nil, err.Error()
	}
	defer atomicfile.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return nil, err.Error()
	}
	rel, err := sysext.ReadRelease(tmp.Name(), name)
	if err != nil {
		return nil, err.Error()
	}
	return rel.Map(), ""
}
