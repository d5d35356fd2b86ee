package sysextbuild_test

import (
	"os"
	"path"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
)

// squashfsMtimes reads every entry's exact modification time with
// go-diskfs's squashfs reader (unsquashfs only prints minutes).
func squashfsMtimes(t *testing.T, img string) map[string]int64 {
	t.Helper()
	st, err := os.Stat(img)
	must(t, err)
	b, err := file.OpenFromPath(img, true)
	must(t, err)
	fs, err := squashfs.Read(b, st.Size(), 0, 0)
	must(t, err)
	times := map[string]int64{}
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := fs.ReadDir(dir)
		must(t, err)
		for _, e := range entries {
			info, err := e.Info()
			must(t, err)
			p := path.Join(dir, e.Name())
			times[p] = info.ModTime().Unix()
			if e.IsDir() {
				walk(p)
			}
		}
	}
	walk(".")
	return times
}
