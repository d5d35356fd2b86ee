package bake_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/testimage"
	"github.com/bake-os/bake-os/vendors"
)

const (
	ignFirst  = `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA first"]}]}}`
	ignSecond = `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,baked"}}]}}`
)

// TestBakeIgnition bakes an Ignition config into OEM /config.ign and
// reads it back with btrfs restore; Ignition's own parser accepts it. A
// second bake into that image is refused, merges (the parent config
// carries both, in order) or replaces, as asked.
func TestBakeIgnition(t *testing.T) {
	f := newFixture(t, testimage.Options{OEMFiles: map[string]string{"grub.cfg": "set oem_id=\"qemu\"\n"}})
	first := filepath.Join(f.dir, "first.ign")
	second := filepath.Join(f.dir, "second.ign")
	os.WriteFile(first, []byte(ignFirst), 0o644)
	os.WriteFile(second, []byte(ignSecond), 0o644)
	ctx := context.Background()

	res, err := bake.Run(ctx, bake.Options{Image: f.image, OutputDir: f.out, IgnitionFile: first})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.out, bake.ImageName)
	judge(t, f.image, out)
	dir := btrfsRestore(t, out)
	got, err := os.ReadFile(filepath.Join(dir, "config.ign"))
	if err != nil || string(got) != ignFirst {
		t.Fatalf("OEM config.ign = %q, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "config.ign")); fi.Mode().Perm() != 0o644 {
		t.Errorf("config.ign mode %v", fi.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "grub.cfg")); string(b) != "set oem_id=\"qemu\"\n" {
		t.Errorf("OEM grub.cfg lost: %q", b)
	}
	if _, rpt, err := config.Parse(got); err != nil || rpt.IsFatal() {
		t.Errorf("Ignition refuses the baked config: %v %s", err, rpt)
	}
	if res.Ignition == nil || res.Ignition.Version != "3.4.0" || res.Ignition.Path != "/config.ign" || !hasWritten(res, "OEM", "/config.ign") {
		t.Errorf("result %+v", res.Ignition)
	}

	// The baked image is the input of the next bakes.
	in2 := filepath.Join(f.dir, "in2", bake.ImageName)
	os.MkdirAll(filepath.Dir(in2), 0o755)
	if err := os.Rename(out, in2); err != nil {
		t.Fatal(err)
	}
	_, err = bake.Run(ctx, bake.Options{Image: in2, OutputDir: f.out, IgnitionFile: second})
	if err == nil || !strings.Contains(err.Error(), "already holds an Ignition config") || !strings.Contains(err.Error(), "--ignition-merge") {
		t.Fatalf("second config without --ignition-merge or --force: %v", err)
	}
	if left := dirEntries(t, f.out); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	res, err = bake.Run(ctx, bake.Options{Image: in2, OutputDir: f.out, IgnitionFile: second, IgnitionMerge: true})
	if err != nil {
		t.Fatal(err)
	}
	merged, _ := os.ReadFile(filepath.Join(btrfsRestore(t, out), "config.ign"))
	cfg, rpt, err := config.Parse(merged)
	if err != nil || rpt.IsFatal() {
		t.Fatalf("merged config: %v %s", err, rpt)
	}
	if len(cfg.Ignition.Config.Merge) != 2 || !res.Ignition.Merged || res.Ignition.Version != "3.4.0" {
		t.Fatalf("merged config %s, result %+v", merged, res.Ignition)
	}
	for i, want := range []string{ignFirst, ignSecond} {
		src := *cfg.Ignition.Config.Merge[i].Source
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:;base64,"))
		if err != nil || string(b) != want {
			t.Errorf("merge %d = %q %v", i, b, err)
		}
	}
	os.Remove(out)

	res, err = bake.Run(ctx, bake.Options{Image: in2, OutputDir: f.out, IgnitionFile: second, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(btrfsRestore(t, out), "config.ign")); string(b) != ignSecond || !res.Ignition.Replaced {
		t.Errorf("--force: config.ign %q, result %+v", b, res.Ignition)
	}
	btrfsCheck(t, out, "OEM")
}

func hasWritten(res *bake.Result, part, p string) bool {
	for _, w := range res.Written {
		if w.Partition == part && w.Path == p {
			return true
		}
	}
	return false
}

// TestIgnitionRefusals: an invalid config names the field and position,
// a spec the image's Flatcar cannot read and live media that would drop
// the config are refused, and a sysext that would land on /config.ign is a
// collision; nothing is written.
func TestIgnitionRefusals(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	write := func(name, body string) string {
		p := filepath.Join(f.dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	bad := write("bad.ign", "{\"ignition\":{\"version\":\"3.4.0\"},\n\"storage\":{\"files\":[{\"path\":\"etc/x\"}]}}")
	newer := write("newer.ign", `{"ignition":{"version":"3.5.0"}}`)
	good := write("good.ign", ignFirst)
	cfg := filepath.Join(f.dir, "cfg")
	os.MkdirAll(cfg, 0o755)
	ext := filepath.Join(cfg, "config.ign")
	if err := testimage.Sysext(context.Background(), ext, "config", flatcarRelease, nil); err != nil {
		t.Fatal(err)
	}
	oemRoot, _ := bake.ParseTarget("oem:/")
	for _, c := range []struct {
		name string
		o    bake.Options
		want []string
	}{
		{"invalid", bake.Options{IgnitionFile: bad}, []string{"bad.ign", "$.storage.files.0.path", "line 2", "path not absolute"}},
		{"spec too new", bake.Options{IgnitionFile: newer, Version: "3815.2.0"}, []string{"3.5.0", "3815.2.0", "up to 3.4.0"}},
		{"collision", bake.Options{IgnitionFile: good, Target: oemRoot, Sysexts: []bake.Sysext{{Name: "config", File: ext}}},
			[]string{"the --ignition config", "sysext config", "OEM:/config.ign"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Image, c.o.OutputDir = f.image, f.out
			_, err := bake.Run(context.Background(), c.o)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
			if left := dirEntries(t, f.out); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestInspectIgnition: inspect reports the baked config and its spec.
func TestInspectIgnition(t *testing.T) {
	f := newFixture(t, testimage.Options{OEMFiles: map[string]string{"config.ign": ignSecond}})
	in, err := bake.Inspect(context.Background(), f.image)
	if err != nil {
		t.Fatal(err)
	}
	if in.Ignition == nil || in.Ignition.Version != "3.3.0" || in.Ignition.Size != int64(len(ignSecond)) || in.Ignition.Error != "" {
		t.Errorf("inspect: %+v", in.Ignition)
	}
}

// TestLiveMediaWarnSysexts: live media carry the kernel and /usr only, so
// a bake whose sysexts go to ROOT says they are not on the ISO (not a
// silent loss), in the log and in the result's warnings.
func TestLiveMediaWarnSysexts(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	ext := f.sysext(t, "myext.raw", "myext", flatcarRelease)
	iso, err := vendors.Parse([]string{"iso"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bake.Run(context.Background(), bake.Options{Image: f.image, OutputDir: f.out, Vendors: iso,
		Sysexts: []bake.Sysext{{Name: "myext", File: ext}}, VendorOptions: vendors.BuildOptions{Compress: "none"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "--vendor iso carries the kernel and /usr only") {
		t.Errorf("warnings %q", res.Warnings)
	}
}
