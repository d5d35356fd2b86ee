package install

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
)

// Writing ahead needs the image's primary GPT to be the base layout
// exactly (read from a working copy whose decoding has not reached the
// end of the entry array yet): a ROOT in USR-B's place, inside the ranges written ahead (and
// punched), turns it off.
func TestAheadNeedsTheBaseLayout(t *testing.T) {
	testutil.RequireTool(t, "sgdisk")
	base := flatcar.Layouts["base"].DiskBytes()
	for name, moveRoot := range map[string]bool{"base": false, "ROOT moved": true} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			os.WriteFile(img, nil, 0o644)
			os.Truncate(img, base)
			args := []string{}
			for _, p := range flatcar.BaseLayout {
				first, last := p.FirstSector, p.FirstSector+p.Sectors-1
				if moveRoot && p.Label == flatcar.LabelUSRB {
					continue
				}
				if moveRoot && p.Label == flatcar.LabelROOT {
					// Into USR-B's place, inside the ranges written ahead.
					first, last = 6299648, 6299648+4194304-1
				}
				args = append(args, fmt.Sprintf("-n=%d:%d:%d", p.Number, first, last), fmt.Sprintf("-c=%d:%s", p.Number, p.Label))
			}
			testutil.Run(t, "sgdisk", append(args, img)...)
			if !moveRoot {
				// As the decoder leaves it while decoding: the zeros
				// after the last entry (9, ROOT) not written yet.
				if err := os.Truncate(img, 1024+9*128); err != nil {
					t.Fatal(err)
				}
			}
			dst, err := os.Create(filepath.Join(t.TempDir(), "disk"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			a := newAhead(context.Background(), dst, false, base+1<<30, slog.New(slog.DiscardHandler))
			if a.src, err = os.Open(img); err != nil {
				t.Fatal(err)
			}
			defer a.src.Close()
			why := a.check()
			if moveRoot != (why != "") || moveRoot && !strings.Contains(why, `partition "ROOT" at sectors 6299648-10493951 is not the base layout's`) {
				t.Errorf("check: %q", why)
			}
		})
	}
}
