package bake

import (
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
	"github.com/bake-os/bake-os/partitions"
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

// ExtensionInfo is one /etc/extensions entry.
type ExtensionInfo struct {
	Name    string            `json:"name"`
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

// Inspection is what Inspect reports.
type Inspection struct {
	Image      string          `json:"image"`
	DiskGUID   string          `json:"disk_guid"`
	Size       int64           `json:"size"`
	Partitions []PartitionInfo `json:"partitions"`
	Extensions []ExtensionInfo `json:"extensions"`
	Sysupdate  []SysupdateInfo `json:"sysupdate"`
	Masks      []string        `json:"masks"`
}

// Inspect reads a (baked) Flatcar image without changing it.
func Inspect(ctx context.Context, image string) (*Inspection, error) {
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
	in := &Inspection{Image: image, DiskGUID: disk.GUID, Size: disk.Size, Masks: []string{}, Extensions: []ExtensionInfo{}, Sysupdate: []SysupdateInfo{}}
	for _, p := range disk.Partitions {
		fsType, _ := partitions.Detect(f, p.Offset(), p.Size())
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
	openOEM := func() (partitions.Editor, error) {
		if oem != nil {
			return oem, nil
		}
		p, _ := disk.ByLabel(flatcar.LabelOEM)
		tmp, err := os.MkdirTemp("", "bake-os-inspect-")
		if err != nil {
			return nil, err
		}
		b, err := partitions.OpenBtrfs(ctx, image, p.Offset(), p.Size(), partitions.BtrfsOptions{WorkDir: tmp})
		os.Remove(tmp) // removed once empty, after Close
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
	}()
	ents, err := root.ReadDir("/etc/extensions")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name, ".raw") {
			continue
		}
		name := strings.TrimSuffix(e.Name, ".raw")
		ei := ExtensionInfo{Name: name, Target: e.LinkTarget}
		switch {
		case e.LinkTarget == "/dev/null":
			ei.Masked = true
			in.Masks = append(in.Masks, name)
		case e.Mode&fs.ModeSymlink == 0:
			ei.Target = "/etc/extensions/" + e.Name
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
				target = path.Join("/etc/extensions", target)
			}
			ei.Release, ei.Error = release(root, target, name)
		}
		in.Extensions = append(in.Extensions, ei)
	}
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
	return in, nil
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
	tmp, err := os.CreateTemp("", "bake-os-sysext-*.raw")
	if err != nil {
		return nil, err.Error()
	}
	defer os.Remove(tmp.Name())
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
