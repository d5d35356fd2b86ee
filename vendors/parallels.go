package vendors

import (
	"context"
	"io"
)

// writeParallelsTgz writes the Parallels .tgz: the hdd image alone.
func writeParallelsTgz(ctx context.Context, dst io.Writer, hddName, hddPath string, workers int) error {
	return writeTarGz(ctx, dst, []tarMember{{Name: hddName, Path: hddPath}}, workers)
}
