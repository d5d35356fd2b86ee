package vendors

import (
	"context"
	"io"
	"os"
)

// writeVagrantParallelsBox writes the Parallels .box around the NAME.hdd
// disk bundle.
func writeVagrantParallelsBox(ctx context.Context, dst io.Writer, name, hdsPath string, size int64, workers int) error {
	return writeTarGz(ctx, dst, append(parallelsMembers(name, hdsPath, size),
		tarMember{Name: "Vagrantfile", Data: []byte(vagrantfile)},
		tarMember{Name: "metadata.json", Data: vagrantMetadata("parallels")},
	), workers)
}

// vagrantParallelsBundle writes the Parallels .box.
type vagrantParallelsBundle struct{}

func (vagrantParallelsBundle) Name() string { return "vagrant_parallels" }

func (vagrantParallelsBundle) Files() []bundleFile {
	return []bundleFile{{Role: roleMain, Kind: "archive"}}
}

func (vagrantParallelsBundle) Build(ctx context.Context, c *bundleContext) error {
	return withParallelsDisk(ctx, c, func(name, hds string, capacity int64) error {
		return c.writeTo(roleMain, func(f *os.File) error {
			return writeVagrantParallelsBox(ctx, f, name, hds, capacity, c.workers())
		})
	})
}
