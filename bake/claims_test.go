package bake_test

import (
	"context"
	"github.com/bake-os/bake-os/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/testimage"
)

// TestOneOwnerPerPath plants every kind of path collision and bad link
// through the real bake: each is refused with one line naming both
// claimants (or the bad value), nothing is left in the output directory
// and the input image is unchanged.
func TestOneOwnerPerPath(t *testing.T) {
	f := newFixture(t, testimage.Options{RootFiles: map[string]string{"opt/extensions/taken.raw": "someone else's\n"}})
	ext := func(dir, file, name string) string {
		os.MkdirAll(filepath.Join(f.dir, dir), 0o755)
		return f.sysext(t, filepath.Join(dir, file), name, flatcarRelease)
	}
	conf := func(name, target string) string {
		p := filepath.Join(f.dir, "confs", name+"-"+strings.NewReplacer("/", "_", ".", "_").Replace(target)+".conf")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("[Transfer]\nVerify=false\n\n[Target]\nType=regular-file\n"+target+"\n"), 0o644)
		return p
	}
	a1 := ext("one", "common.raw", "a")
	b2 := ext("two", "common.raw", "b")
	a := ext("", "a-1.raw", "a")
	b := ext("", "b.raw", "b")
	taken := ext("three", "taken.raw", "t")
	linkDir, _ := bake.ParseTarget("root:/etc/extensions/")

	cases := []struct {
		name  string
		o     bake.Options
		wants []string
	}{
		{"same basename", bake.Options{Sysexts: []bake.Sysext{{Name: "a", File: a1}, {Name: "b", File: b2}}},
			[]string{"sysext a's image (common.raw)", "sysext b's image (common.raw)", "ROOT:/opt/extensions/common.raw"}},
		{"image in the link directory", bake.Options{Target: linkDir, Sysexts: []bake.Sysext{{Name: "a", File: a}}},
			[]string{"sysext a's image /etc/extensions/a-1.raw", "sysext a's link /etc/extensions/a.raw", "merge it a second time"}},
		{"link is its image", bake.Options{Target: linkDir, Sysexts: []bake.Sysext{{Name: "b", File: b}}},
			[]string{"sysext b's image (b.raw)", "sysext b's link", "ROOT:/etc/extensions/b.raw"}},
		{"CurrentSymlink on another's link", bake.Options{Sysexts: []bake.Sysext{
			{Name: "a", File: a, Conf: conf("a", "CurrentSymlink=/etc/extensions/b.raw")}, {Name: "b", File: b}}},
			[]string{"sysext a's link", "sysext b's link", "ROOT:/etc/extensions/b.raw"}},
		{"CurrentSymlink on another's image", bake.Options{Sysexts: []bake.Sysext{
			{Name: "a", File: a, Conf: conf("a", "CurrentSymlink=/var/lib/extensions/b.raw")},
			{Name: "b", File: b, Conf: conf("b", "Path=/var/lib/extensions")}}},
			[]string{"sysext a's link", "sysext b's image (b.raw)", "ROOT:/var/lib/extensions/b.raw"}},
		{"mask on a sysext's link", bake.Options{Masks: []string{"m"}, Sysexts: []bake.Sysext{
			{Name: "a", File: a, Conf: conf("a", "CurrentSymlink=/etc/extensions/m.raw")}}},
			[]string{"sysext a's link", "--mask m", "ROOT:/etc/extensions/m.raw"}},
		{"image inside another's file", bake.Options{Sysexts: []bake.Sysext{
			{Name: "a", File: a}, {Name: "b", File: b, Conf: conf("b", "Path=/opt/extensions/a-1.raw")}}},
			[]string{"sysext b's image (b.raw)", "would lie inside ROOT:/opt/extensions/a-1.raw", "sysext a's image (a-1.raw)"}},
		{"existing file in the image", bake.Options{Sysexts: []bake.Sysext{{Name: "t", File: taken}}},
			[]string{"sysext t's image (taken.raw)", "ROOT:/opt/extensions/taken.raw", "a file the image already has"}},
	}
	for _, link := range []struct{ value, want string }{
		{"/etc/passwd", "not in a directory systemd-sysext reads"},
		{"../../etc/x", "not absolute"},
		{"/etc/extensions/../passwd", "not normalised"},
		{"/etc/extensions//a.raw", "not normalised"},
		{"/run/extensions/a.raw", "/run is a tmpfs"},
		{"/etc/extensions/a", "only reads NAME.raw"},
		{"/etc/extensions/other.raw", "must be named a.raw"},
	} {
		c := conf("a", "CurrentSymlink="+link.value)
		cases = append(cases, struct {
			name  string
			o     bake.Options
			wants []string
		}{"CurrentSymlink=" + link.value, bake.Options{Sysexts: []bake.Sysext{{Name: "a", File: a, Conf: c}}},
			[]string{link.value, link.want}})
	}
	for _, p := range []struct{ value, want string }{
		{"opt/extensions", "not absolute"},
		{"/opt/../etc", "contains '..'"},
		{"/opt/%a", "specifier"},
	} {
		c := conf("a", "Path="+p.value)
		cases = append(cases, struct {
			name  string
			o     bake.Options
			wants []string
		}{"Path=" + p.value, bake.Options{Sysexts: []bake.Sysext{{Name: "a", File: a, Conf: c}}},
			[]string{c, "[Target] Path=" + p.value, p.want}})
	}

	inSum := testutil.DataSHA256(t, f.image)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Image, o.OutputDir, o.Arch = f.image, f.out, flatcar.ArchX86_64
			_, err := bake.Run(context.Background(), o)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if left := dirEntries(t, f.out); len(left) != 0 {
				t.Errorf("left behind in output dir: %v", left)
			}
		})
	}
	if testutil.DataSHA256(t, f.image) != inSum {
		t.Error("input image changed")
	}
}
