package bake_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

const flatcarRelease = "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n"

func requireTools(t *testing.T) {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs", "e2fsck", "sgdisk", "btrfs", "dd")
}

// fixture is a generated input image plus sysexts in a directory.
type fixture struct {
	dir, image, out string
}

func newFixture(t *testing.T, o testimage.Options) *fixture {
	t.Helper()
	requireTools(t)
	dir := t.TempDir()
	f := &fixture{dir: dir, image: filepath.Join(dir, "in", "flatcar_production_image.bin"), out: filepath.Join(dir, "out")}
	os.MkdirAll(filepath.Dir(f.image), 0o755)
	os.MkdirAll(f.out, 0o755)
	if err := testimage.Generate(context.Background(), f.image, o); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) sysext(t *testing.T, file, name, release string) string {
	t.Helper()
	p := filepath.Join(f.dir, file)
	err := testimage.Sysext(context.Background(), p, name, release, map[string]string{
		"usr/bin/" + name: "#!/bin/sh\necho " + name + "\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func spec(label string) flatcar.PartitionSpec {
	for _, p := range flatcar.BaseLayout {
		if p.Label == label {
			return p
		}
	}
	panic(label)
}

func rootSpec(img string) string {
	return fmt.Sprintf("%s?offset=%d", img, int64(spec(flatcar.LabelROOT).FirstSector)*512)
}

// debugfsCat reads a file from ROOT with debugfs.
func debugfsCat(t *testing.T, img, p string) []byte {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+p, rootSpec(img)).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", p, err)
	}
	return out
}

var statRE = regexp.MustCompile(`Type: (\w+)\s+Mode:\s+(\d+).*\n.*\nUser:\s+(\d+)\s+Group:\s+(\d+)`)
var fastLinkRE = regexp.MustCompile(`Fast link dest: "(.*)"`)

type rootStat struct {
	typ, mode, uid, gid, link string
}

func debugfsStat(t *testing.T, img, p string) rootStat {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "stat "+p, rootSpec(img)).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs stat %s: %v", p, err)
	}
	m := statRE.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("debugfs stat %s: unexpected output %s", p, out)
	}
	s := rootStat{typ: m[1], mode: m[2], uid: m[3], gid: m[4]}
	if l := fastLinkRE.FindStringSubmatch(string(out)); l != nil {
		s.link = l[1]
	} else if s.typ == "symlink" {
		s.link = string(debugfsCat(t, img, p))
	}
	return s
}

// judge runs the independent checkers over a baked image.
func judge(t *testing.T, in, out string) {
	t.Helper()
	testutil.Run(t, "e2fsck", "-fn", rootSpec(out))
	v := testutil.Run(t, "sgdisk", "-v", out)
	if !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v: %s", v)
	}
	for _, p := range flatcar.BaseLayout {
		a := testutil.Run(t, "sgdisk", "-i", fmt.Sprint(p.Number), in)
		b := testutil.Run(t, "sgdisk", "-i", fmt.Sprint(p.Number), out)
		if a != b {
			t.Errorf("sgdisk -i %d differs:\n%s\n---\n%s", p.Number, a, b)
		}
	}
	a, b := testutil.Run(t, "sgdisk", "-p", in), testutil.Run(t, "sgdisk", "-p", out)
	if strings.ReplaceAll(a, in, "") != strings.ReplaceAll(b, out, "") {
		t.Errorf("sgdisk -p differs")
	}
	if got := readMBR(t, out); string(got) != string(testimage.MBRMarker) {
		t.Error("MBR bytes 0-439 changed")
	}
	btrfsCheck(t, out, flatcar.LabelOEM)
}

func readMBR(t *testing.T, p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 440)
	f.ReadAt(b, 0)
	return b
}

func extractPart(t *testing.T, img, label string) string {
	t.Helper()
	p := spec(label)
	out := filepath.Join(t.TempDir(), label+".img")
	testutil.ExtractSectors(t, img, out, uint64(p.FirstSector), uint64(p.Sectors))
	return out
}

func btrfsCheck(t *testing.T, img, label string) {
	t.Helper()
	testutil.Run(t, "btrfs", "check", "--readonly", extractPart(t, img, label))
}

// btrfsRestore unpacks OEM with btrfs restore.
func btrfsRestore(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.Run(t, "btrfs", "restore", "-x", "-m", "-S", extractPart(t, img, flatcar.LabelOEM), dir)
	return dir
}

// du is the allocated size of a file.
func du(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// dirEntries lists a directory's names (for "nothing left behind").
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
