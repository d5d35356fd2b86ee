package vendors

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/provision"
	"github.com/bake-os/bake-os/sparse"
)

// TestOEMGrubCfgSymlinkReplaced: a base image whose OEM /grub.cfg is a
// symlink (to the /oem-release the vendor writes too, or out of the
// partition) gets a regular /grub.cfg with the vendor's settings; the
// link is replaced, never written or read through: /oem-release holds
// the OEM's release and no kernel argument is taken from the link's
// target.
func TestOEMGrubCfgSymlinkReplaced(t *testing.T) {
	f := testFixture(t)
	ami, ok := Lookup("ami")
	if !ok {
		t.Fatal("no ami vendor")
	}
	for name, target := range map[string]string{"inside": "/oem-release", "outside": "../../etc/passwd"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			base := filepath.Join(dir, "flatcar_production_image.bin")
			copySparse(t, f.base, base)
			os.WriteFile(filepath.Join(dir, "version.txt"), mustRead(t, filepath.Join(filepath.Dir(f.base), "version.txt")), 0o644)
			editOEM(t, base, func(ed partitions.Editor) {
				// The link's target holds a kernel argument on bake-os's
				// managed line: read through the link, it would reach the
				// new grub.cfg.
				planted, err := provision.EditKernelArgs("", []string{"planted.arg=1"}, nil)
				if err != nil || !strings.Contains(planted.Config, "planted.arg=1") {
					t.Fatalf("planting a managed line: %v", err)
				}
				if err := ed.WriteFile("/oem-release", strings.NewReader(planted.Config), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := ed.Symlink(target, "/grub.cfg"); err != nil {
					t.Fatal(err)
				}
			})
			editOEM(t, base, func(ed partitions.Editor) {
				if st, err := ed.Stat("/grub.cfg"); err != nil || st.Mode&os.ModeSymlink == 0 {
					t.Fatalf("planted OEM /grub.cfg: %+v %v, want a symlink", st, err)
				}
			})
			out := filepath.Join(dir, "out")
			if _, err := Build(context.Background(), []Vendor{ami}, BuildOptions{Base: base, OutputDir: out,
				OEMSysextDir: f.oemDir, Compress: "none", Workers: 2}); err != nil {
				t.Fatal(err)
			}
			ed := openOEM(t, filepath.Join(out, ami.File))
			st, err := ed.Stat("/grub.cfg")
			if err != nil || !st.Mode.IsRegular() {
				t.Fatalf("OEM /grub.cfg after the bake: %+v %v, want a regular file", st, err)
			}
			want, _ := GrubConfig(ami.OEM, flatcar.ArchX86_64)
			if got := readEd(t, ed, "/grub.cfg"); got != want {
				t.Errorf("OEM /grub.cfg:\n%s\nwant:\n%s", got, want)
			}
			if rel := readEd(t, ed, "/oem-release"); !strings.HasPrefix(rel, "ID="+ami.OEM+"\n") {
				t.Errorf("OEM /oem-release = %q", rel)
			}
		})
	}
}

func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := sparse.CopyFile(context.Background(), dst, in, 0o644, nil); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openOEM opens the OEM partition of the raw disk img for reading and
// editing; the test closes it.
func openOEM(t *testing.T, img string) *partitions.Btrfs {
	t.Helper()
	d, err := gpt.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.ByLabel(flatcar.LabelOEM)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := partitions.OpenBtrfs(context.Background(), img, p.Offset(), p.Size(), partitions.BtrfsOptions{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ed.Close() })
	return ed
}

func editOEM(t *testing.T, img string, edit func(partitions.Editor)) {
	t.Helper()
	ed := openOEM(t, img)
	edit(ed)
	if err := ed.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	ed.Close()
}

func readEd(t *testing.T, ed partitions.Editor, p string) string {
	t.Helper()
	r, err := ed.Open(p)
	if err != nil {
		t.Fatalf("OEM %s: %v", p, err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}
