package rootfstest

// The hostile-input fixtures. Builders never write outside their work
// directory: every builder is fed archives and root filesystems with
// symlinks planted at every level (top-level usr, a middle directory, the
// final component, a link made by an earlier entry and written through by
// a later one, a whited-out symlinked directory, hard links to outside
// files) pointing at a Victim directory outside the work directory. The
// victim's names, modes, owners, times and content hashes are recorded
// before and compared after; each case states whether the build must
// refuse (and with what) or produce a correct tree (and which): Case,
// run by Hostile.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// Victim creates a directory outside every work directory holding a
// file, a private file, a subdirectory and a unit file, and returns it
// with a function describing its whole state (names, types, modes,
// owners, mtimes, content hashes, link targets).
func Victim(t *testing.T) (string, func() string) {
	t.Helper()
	v := filepath.Join(t.TempDir(), "victim")
	Write(t, filepath.Join(v, "file"), "victim file\n")
	Write(t, filepath.Join(v, "secret"), "victim secret\n")
	Must(t, os.Chmod(filepath.Join(v, "secret"), 0o600))
	Write(t, filepath.Join(v, "sub/deep"), "deep\n")
	Write(t, filepath.Join(v, "x.service"), "[Service]\nEnvironmentFile=/run/metadata/torcx\n")
	Must(t, os.Symlink("file", filepath.Join(v, "link")))
	snap := func() string {
		var lines []string
		err := filepath.Walk(v, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(v, p)
			st := fi.Sys().(*syscall.Stat_t)
			line := fmt.Sprintf("%s %v %d:%d %d", rel, fi.Mode(), st.Uid, st.Gid, fi.ModTime().UnixNano())
			switch {
			case fi.Mode()&os.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				line += " -> " + l
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h := sha256.Sum256(b)
				line += " " + hex.EncodeToString(h[:8])
			}
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	return v, snap
}

// Up is a relative path that climbs to the host's / from any directory
// less than 30 levels deep, so that up+victim names the victim from
// anywhere in a work directory.
var Up = strings.Repeat("../", 30)

// Case is one hostile-input case of a builder: the input In it is fed
// and the outcome it must have: Refuse non-empty means the build must
// fail with an error containing it; otherwise it must succeed and Check
// (if set) inspects its output.
type Case[In any] struct {
	Name   string
	In     In
	Refuse string
	Check  func(t *testing.T, out string)
}

// Hostile runs each case as a subtest: it records the victim's state
// (snap, from Victim), runs build on the case (planting its input and
// building, returning the output directory Check inspects), judges the
// outcome and fails if the victim changed, whether the build refused or
// not.
func Hostile[In any](t *testing.T, snap func() string, cases []Case[In], build func(t *testing.T, c Case[In]) (out string, err error)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Helper()
			before := snap()
			out, err := build(t, c)
			switch {
			case c.Refuse != "":
				if err == nil || !strings.Contains(err.Error(), c.Refuse) {
					t.Errorf("want a refusal containing %q, got %v", c.Refuse, err)
				}
			case err != nil:
				t.Errorf("want a correct tree, got %v", err)
			case c.Check != nil:
				c.Check(t, out)
			}
			if after := snap(); after != before {
				t.Errorf("victim changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// IsFile checks that p is a regular file with the given content.
func IsFile(t *testing.T, p, content string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: want a regular file, got %v %v", p, fi, err)
		return
	}
	if b, _ := os.ReadFile(p); string(b) != content {
		t.Errorf("%s = %q, want %q", p, b, content)
	}
}
