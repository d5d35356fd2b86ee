package vendors

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"os"

	"github.com/google/uuid"
)

// Parallels Desktop keeps a disk as a bundle directory NAME.hdd holding
// DiskDescriptor.xml and the image file NAME.hdd.0.{GUID}.hds (the format
// diskfmt's parallels writer produces; qemu-img reads it as "parallels").

// parallelsSnapshotGUID is the GUID Parallels gives the base image of a
// disk without snapshots.
const parallelsSnapshotGUID = "{5fbaabe3-6958-40ff-92a7-860e329aab41}"

// parallelsMembers returns the archive members of the NAME.hdd bundle for
// the image at hdsPath of a disk of size bytes.
func parallelsMembers(name, hdsPath string, size int64) []tarMember {
	bundle := name + ".hdd"
	hds := bundle + ".0." + parallelsSnapshotGUID + ".hds"
	return []tarMember{
		{Name: bundle + "/DiskDescriptor.xml", Data: []byte(parallelsDescriptor(name, hds, size))},
		{Name: bundle + "/" + hds, Path: hdsPath},
	}
}

func parallelsDescriptor(name, hds string, size int64) string {
	sectors := size / 512
	uid := uuid.NewHash(sha1.New(), uuid.NameSpaceOID, []byte("bake-os parallels "+name), 5).String()
	return fmt.Sprintf(`<?xml version='1.0' encoding='UTF-8'?>
<Parallels_disk_image Version="1.0">
    <Disk_Parameters>
        <Disk_size>%[1]d</Disk_size>
        <Cylinders>%[2]d</Cylinders>
        <PhysicalSectorSize>512</PhysicalSectorSize>
        <Heads>16</Heads>
        <Sectors>32</Sectors>
        <Padding>0</Padding>
        <Encryption>
            <Engine>{00000000-0000-0000-0000-000000000000}</Engine>
            <Data></Data>
        </Encryption>
        <UID>{%[3]s}</UID>
        <Name>%[4]s</Name>
        <Miscellaneous>
            <CompatLevel>level2</CompatLevel>
            <Flags>0</Flags>
        </Miscellaneous>
    </Disk_Parameters>
    <StorageData>
        <Storage>
            <Start>0</Start>
            <End>%[1]d</End>
            <Blocksize>2048</Blocksize>
            <Image>
                <GUID>%[5]s</GUID>
                <Type>Compressed</Type>
                <File>%[6]s</File>
            </Image>
        </Storage>
    </StorageData>
    <Snapshots>
        <Shot>
            <GUID>%[5]s</GUID>
            <ParentGUID>{00000000-0000-0000-0000-000000000000}</ParentGUID>
        </Shot>
    </Snapshots>
</Parallels_disk_image>
`, sectors, sectors/(16*32), uid, xmlEscape(name), parallelsSnapshotGUID, xmlEscape(hds))
}

// writeParallelsTgz writes the Parallels .tgz: the NAME.hdd bundle.
func writeParallelsTgz(ctx context.Context, dst io.Writer, name, hdsPath string, size int64, workers int) error {
	return writeTarGz(ctx, dst, parallelsMembers(name, hdsPath, size), workers)
}

// parallelsBundle writes the .tgz holding the NAME.hdd bundle.
type parallelsBundle struct{}

func (parallelsBundle) Name() string { return "parallels" }

func (parallelsBundle) Files() []bundleFile { return []bundleFile{{Role: roleMain, Kind: "archive"}} }

func (parallelsBundle) Build(ctx context.Context, c *bundleContext) error {
	return withParallelsDisk(ctx, c, func(name, hds string, capacity int64) error {
		return c.writeTo(roleMain, func(f *os.File) error {
			return writeParallelsTgz(ctx, f, name, hds, capacity, c.workers())
		})
	})
}

// withParallelsDisk writes the vendor's Parallels image into the work
// directory and calls fn with the bundle name (the main output's stem +
// "_image"), the image and the disk's capacity.
func withParallelsDisk(ctx context.Context, c *bundleContext, fn func(name, hds string, capacity int64) error) error {
	name := c.stem() + "_image"
	hds, _, err := c.workDisk(ctx, name+".hds")
	if err != nil {
		return err
	}
	defer os.Remove(hds)
	capacity, err := c.capacity()
	if err != nil {
		return err
	}
	return fn(name, hds, capacity)
}
