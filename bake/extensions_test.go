package bake_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/testimage"
)

func TestMergeEnabledSysextConf(t *testing.T) {
	for _, c := range []struct {
		old, want       string
		enable, disable []string
	}{
		{"", "zfs\n-docker\n", []string{"zfs"}, []string{"docker"}},
		// Lines and comments stay; nothing is listed twice.
		{"# mine\nzfs\npodman # keep\n", "# mine\nzfs\npodman # keep\n-docker\n", []string{"zfs"}, []string{"docker"}},
		{"zfs # comment\n-docker", "zfs # comment\n-docker\n", []string{"zfs"}, []string{"docker"}},
		// A contradicting line goes: -NAME blocks NAME whatever else the
		// file lists, and NAME would enable a disabled name.
		{"-zfs\npython\n", "python\nzfs\n", []string{"zfs"}, nil},
		{"python\n  zfs  \n", "python\n-zfs\n", nil, []string{"zfs"}},
	} {
		got := bake.MergeEnabledSysextConf(c.old, c.enable, c.disable)
		if got != c.want {
			t.Errorf("merge(%q, +%v, -%v) = %q, want %q", c.old, c.enable, c.disable, got, c.want)
		}
		if again := bake.MergeEnabledSysextConf(got, c.enable, c.disable); again != got {
			t.Errorf("merging %q again gives %q", got, again)
		}
	}
}

// TestExtensionRefusals: bad names, contradictions and paths another
// input of the bake claims are refused before any work.
func TestExtensionRefusals(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	ctx := context.Background()
	user := f.sysext(t, "flatcar-zfs-4593.2.5.raw", "zfsx", flatcarRelease)
	named := f.sysext(t, "fz.raw", "flatcar-zfs", flatcarRelease)
	target, _ := bake.ParseTarget("root:/etc/flatcar/sysext/")
	for _, c := range []struct {
		o    bake.Options
		want string
	}{
		{bake.Options{EnableExtensions: []string{"../zfs"}}, "--enable-extension: invalid sysext name"},
		{bake.Options{DisableExtensions: []string{"a/b"}}, "--disable-extension: invalid sysext name"},
		{bake.Options{EnableExtensions: []string{"zfs"}, DisableExtensions: []string{"zfs"}}, "contradict"},
		{bake.Options{EnableExtensions: []string{"zfs"}, Sysexts: []bake.Sysext{{Name: "flatcar-zfs", File: named}}},
			"sysext flatcar-zfs and --enable-extension zfs are both /etc/extensions/flatcar-zfs.raw"},
		{bake.Options{EnableExtensions: []string{"zfs"}, Masks: []string{"flatcar-zfs"}}, "--mask flatcar-zfs would mask --enable-extension zfs"},
		// The image where the initrd looks for zfs of this release.
		{bake.Options{EnableExtensions: []string{"zfs"}, Target: target, Sysexts: []bake.Sysext{{Name: "zfsx", File: user}}},
			"--enable-extension zfs's image"},
	} {
		o := c.o
		o.Image, o.OutputDir = f.image, f.out
		_, err := bake.Run(ctx, o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
		t.Errorf("refused bakes left %v", ents)
	}
}

// TestExtensionsWithoutRelease: with the image's version unknown, only
// enabled-sysext.conf is written (the first boot downloads the image) and
// says so; --disable-extension docker beside --mask docker-flatcar writes
// the one mask once.
func TestExtensionsWithoutRelease(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	os.Remove(filepath.Join(filepath.Dir(f.image), "version.txt"))
	var logs bytes.Buffer
	res, err := bake.Run(context.Background(), bake.Options{Image: f.image, OutputDir: f.out,
		EnableExtensions: []string{"zfs"}, DisableExtensions: []string{"docker"}, Masks: []string{"docker-flatcar"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.out, bake.ImageName)
	judge(t, f.image, out)
	if got := string(debugfsCat(t, out, "/etc/flatcar/enabled-sysext.conf")); got != "zfs\n-docker\n" {
		t.Errorf("enabled-sysext.conf = %q", got)
	}
	if s := debugfsStat(t, out, "/etc/extensions/docker-flatcar.raw"); s.link != "/dev/null" {
		t.Errorf("docker-flatcar mask: %+v", s)
	}
	if o, _ := exec.Command("debugfs", "-R", "ls /etc/flatcar/sysext", rootSpec(out)).CombinedOutput(); !strings.Contains(string(o), "File not found") {
		t.Errorf("/etc/flatcar/sysext written without a release: %s", o)
	}
	masks := 0
	for _, w := range res.Written {
		if w.Kind == "mask" {
			masks++
		}
	}
	if masks != 1 || res.Extensions == nil || strings.Join(res.Extensions.Deferred, ",") != "zfs" || len(res.Extensions.Placed) != 0 {
		t.Errorf("result: %d masks written, extensions %+v", masks, res.Extensions)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "the first boot downloads zfs") {
		t.Errorf("no warning that the first boot downloads zfs:\n%s", logs.String())
	}

	// A development build's version names no release directory: the
	// same, and said so.
	logs.Reset()
	out2 := filepath.Join(f.dir, "out2")
	res, err = bake.Run(context.Background(), bake.Options{Image: f.image, OutputDir: out2, Version: "4593.2.5+dev",
		EnableExtensions: []string{"zfs"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Extensions == nil || len(res.Extensions.Placed) != 0 || !strings.Contains(logs.String(), "names no release") {
		t.Errorf("development build: %+v\n%s", res.Extensions, logs.String())
	}
}

// TestExtensionsHostileImage: an image whose enabled-sysext.conf is a
// symlink, or whose /etc/flatcar is one, is refused, nothing written
// through the link.
func TestExtensionsHostileImage(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	os.Remove(filepath.Join(filepath.Dir(f.image), "version.txt"))
	ctx := context.Background()
	for _, c := range []struct {
		plant func(root partitions.Editor) error
		want  string
	}{
		{func(root partitions.Editor) error { return root.Symlink("/etc/hostname", bake.EnabledSysextConf) },
			"the image's /etc/flatcar/enabled-sysext.conf is not a regular file"},
		{func(root partitions.Editor) error {
			if err := root.Remove("/etc/flatcar/enabled-sysext.conf"); err != nil {
				return err
			}
			if err := root.Remove("/etc/flatcar"); err != nil {
				return err
			}
			return root.Symlink("/etc/systemd", "/etc/flatcar")
		}, "the image's ROOT:/etc/flatcar is a symlink to /etc/systemd"},
	} {
		root, err := partitions.OpenExt4(f.image, int64(spec(flatcar.LabelROOT).FirstSector)*512, partitions.Ext4Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.plant(root); err != nil {
			t.Fatal(err)
		}
		if err := root.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		root.Close()
		_, err = bake.Run(ctx, bake.Options{Image: f.image, OutputDir: f.out, EnableExtensions: []string{"zfs"}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.want, err)
		}
		if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
			t.Errorf("%s: left %v", c.want, ents)
		}
	}
}
