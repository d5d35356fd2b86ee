package vendors

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
)

var execLookPath = child.LookPath

// stage tracks output files written under temporary names in the output
// directory; commit renames them all, cleanup removes whatever was not
// committed.
type stage struct {
	dir   string
	items []staged
	done  bool
}

type staged struct {
	tmp, final string
	art        Artifact
}

// temp reserves a temporary path in the output directory for the final
// file name and records it.
func (s *stage) temp(vendor, kind, final string) (string, error) {
	f, err := atomicfile.CreateTemp(s.dir, final)
	if err != nil {
		return "", fmt.Errorf("creating temp file for %s: %w", final, err)
	}
	f.Close()
	p := filepath.Join(s.dir, final)
	s.items = append(s.items, staged{tmp: f.Name(), final: p, art: Artifact{Vendor: vendor, Kind: kind, Path: p}})
	return f.Name(), nil
}

// drop removes a staged file that is not an output after all (the
// uncompressed disk when only compressed copies are wanted).
func (s *stage) drop(tmp string) {
	for i, it := range s.items {
		if it.tmp == tmp {
			atomicfile.Remove(tmp)
			s.items = append(s.items[:i], s.items[i+1:]...)
			return
		}
	}
}

// commit renames every staged file into place: the one place where vendor
// outputs are finalised (checks on finished outputs belong here).
func (s *stage) commit() ([]Artifact, error) {
	var arts []Artifact
	for _, it := range s.items {
		// Temp files are created 0600; outputs are 0644 like qemu-img's,
		// unless a bundle made its file executable.
		if st, err := os.Stat(it.tmp); err == nil && st.Mode().Perm() == 0o600 {
			if err := os.Chmod(it.tmp, 0o644); err != nil {
				return nil, fmt.Errorf("setting mode of %s: %w", it.final, err)
			}
		}
		if err := os.Rename(it.tmp, it.final); err != nil {
			return nil, fmt.Errorf("renaming %s into place: %w", it.final, err)
		}
		atomicfile.Forget(it.tmp)
		arts = append(arts, it.art)
	}
	s.done = true
	return arts, nil
}

func (s *stage) cleanup() {
	if s.done {
		return
	}
	for _, it := range s.items {
		atomicfile.Remove(it.tmp)
	}
}
