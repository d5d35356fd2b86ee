package provision_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/bake-os/bake-os/provision"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const noop = "[Source]\nType=regular-file\nPath=/\nMatchPattern=invalid@v.raw\n\n[Target]\nType=regular-file\nPath=/\n"

var goldenOptions = provision.ButaneOptions{
	Sysexts: []provision.ButaneSysext{
		{Name: "wasmtime", File: "wasmtime-24.0.0-x86-64.raw", SHA256: strings.Repeat("0123456789abcdef", 4)},
		{Name: "docker", File: "docker-24.0.9-x86-64.raw"},
	},
	Masks:     []string{"docker-flatcar", "containerd-flatcar"},
	Sysupdate: true,
	BakeryURL: "https://extensions.flatcar.org/extensions/",
	NoopConf:  noop,
}

// TestButaneGolden compares the config for a fixed set of sysexts, masks
// and --sysupdate with testdata/butane.golden (go test -update rewrites
// it; review the diff).
func TestButaneGolden(t *testing.T) {
	got, err := provision.Butane(goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "butane.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Butane output differs from %s:\n%s", golden, got)
	}
}

// TestButaneStructure parses the YAML back and checks every entry a
// machine needs, independently of the golden file's formatting.
func TestButaneStructure(t *testing.T) {
	out, err := provision.Butane(goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Variant string
		Version string
		Storage struct {
			Files []struct {
				Path     string
				Mode     int
				Contents struct {
					Source       string
					Inline       string
					Verification struct{ Hash string }
				}
			}
			Links []struct {
				Path, Target    string
				Hard, Overwrite *bool
			}
		}
		Systemd struct {
			Units []struct {
				Name    string
				Enabled *bool
				Dropins []struct{ Name, Contents string }
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(out)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("the config does not parse: %v\n%s", err, out)
	}
	if cfg.Variant != "flatcar" || cfg.Version != "1.0.0" {
		t.Errorf("variant %q version %q", cfg.Variant, cfg.Version)
	}
	files := map[string]int{}
	for i, f := range cfg.Storage.Files {
		files[f.Path] = i
		if f.Mode != 0o644 {
			t.Errorf("%s: mode %o, want 644", f.Path, f.Mode)
		}
	}
	for path, source := range map[string]string{
		"/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw": "https://extensions.flatcar.org/extensions/wasmtime-24.0.0-x86-64.raw",
		"/opt/extensions/docker/docker-24.0.9-x86-64.raw":     "https://extensions.flatcar.org/extensions/docker-24.0.9-x86-64.raw",
		"/etc/sysupdate.wasmtime.d/wasmtime.conf":             "https://extensions.flatcar.org/extensions/wasmtime.conf",
		"/etc/sysupdate.docker.d/docker.conf":                 "https://extensions.flatcar.org/extensions/docker.conf",
	} {
		i, ok := files[path]
		if !ok {
			t.Errorf("no file %s", path)
			continue
		}
		if got := cfg.Storage.Files[i].Contents.Source; got != source {
			t.Errorf("%s: source %s, want %s", path, got, source)
		}
	}
	if h := cfg.Storage.Files[files["/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw"]].Contents.Verification.Hash; h != "sha256-"+strings.Repeat("0123456789abcdef", 4) {
		t.Errorf("wasmtime verification hash %q", h)
	}
	if h := cfg.Storage.Files[files["/opt/extensions/docker/docker-24.0.9-x86-64.raw"]].Contents.Verification.Hash; h != "" {
		t.Errorf("docker has a hash without a known sha256: %q", h)
	}
	if i, ok := files["/etc/sysupdate.d/noop.conf"]; !ok || cfg.Storage.Files[i].Contents.Inline != noop {
		t.Errorf("noop.conf missing or not inline")
	}
	links := map[string]string{}
	for _, l := range cfg.Storage.Links {
		links[l.Path] = l.Target
		if l.Target == "/dev/null" && (l.Overwrite == nil || !*l.Overwrite) {
			t.Errorf("mask %s does not overwrite", l.Path)
		}
		if l.Target != "/dev/null" && (l.Hard == nil || *l.Hard) {
			t.Errorf("link %s is not a symlink", l.Path)
		}
	}
	for path, target := range map[string]string{
		"/etc/extensions/wasmtime.raw":           "/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw",
		"/etc/extensions/docker.raw":             "/opt/extensions/docker/docker-24.0.9-x86-64.raw",
		"/etc/extensions/docker-flatcar.raw":     "/dev/null",
		"/etc/extensions/containerd-flatcar.raw": "/dev/null",
	} {
		if links[path] != target {
			t.Errorf("link %s -> %q, want %s", path, links[path], target)
		}
	}
	if len(cfg.Systemd.Units) != 2 || cfg.Systemd.Units[0].Name != "systemd-sysupdate.timer" || cfg.Systemd.Units[0].Enabled == nil || !*cfg.Systemd.Units[0].Enabled {
		t.Fatalf("units: %+v", cfg.Systemd.Units)
	}
	svc := cfg.Systemd.Units[1]
	if svc.Name != "systemd-sysupdate.service" || len(svc.Dropins) != 3 {
		t.Fatalf("service: %+v", svc)
	}
	for i, want := range []struct{ name, line string }{
		{"wasmtime.conf", "ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C wasmtime update"},
		{"docker.conf", "ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C docker update"},
		{"sysext.conf", "ExecStartPost=systemctl restart systemd-sysext"},
	} {
		d := svc.Dropins[i]
		if d.Name != want.name || d.Contents != "[Service]\n"+want.line+"\n" {
			t.Errorf("drop-in %d: %q %q, want %s with %s", i, d.Name, d.Contents, want.name, want.line)
		}
	}

	// Without --sysupdate: no sysupdate files, no units.
	plain := goldenOptions
	plain.Sysupdate = false
	out, err = provision.Butane(plain)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "sysupdate") || strings.Contains(s, "systemd:") {
		t.Errorf("sysupdate parts without --sysupdate:\n%s", s)
	}
}

// TestButaneTranspiles runs the butane binary, when installed, on the
// config and validates the Ignition result with Ignition's own library.
// Debian ships no butane package, so this usually logs and returns.
func TestButaneTranspiles(t *testing.T) {
	if _, err := exec.LookPath("butane"); err != nil {
		t.Log("butane is not installed: the config's structure is checked by TestButaneStructure only")
		return
	}
	out, err := provision.Butane(goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.bu")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	ign, err := provision.Load(context.Background(), p, "4593.2.5", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ign.Version != "3.3.0" {
		t.Errorf("spec %s, want 3.3.0", ign.Version)
	}
}

func TestButaneRefusals(t *testing.T) {
	ok := provision.ButaneSysext{Name: "a", File: "a-1-x86-64.raw"}
	for want, o := range map[string]provision.ButaneOptions{
		"invalid bakery URL":               {Sysexts: []provision.ButaneSysext{ok}, BakeryURL: "extensions.flatcar.org"},
		"nothing to provision":             {BakeryURL: "https://x/"},
		"sysext a is also given as sysext": {Sysexts: []provision.ButaneSysext{ok, ok}, BakeryURL: "https://x/"},
		"mask a is also given as sysext":   {Sysexts: []provision.ButaneSysext{ok}, Masks: []string{"a"}, BakeryURL: "https://x/"},
		"invalid sysext name":              {Sysexts: []provision.ButaneSysext{{Name: "../x", File: "x.raw"}}, BakeryURL: "https://x/"},
		"invalid mask name":                {Masks: []string{"a\nb"}, BakeryURL: "https://x/"},
		"must be a plain":                  {Sysexts: []provision.ButaneSysext{{Name: "a", File: "../a.raw"}}, BakeryURL: "https://x/"},
		"not 64 hex digits":                {Sysexts: []provision.ButaneSysext{{Name: "a", File: "a.raw", SHA256: "abc"}}, BakeryURL: "https://x/"},
		"which restarts systemd-sysext":    {Sysexts: []provision.ButaneSysext{{Name: "sysext", File: "sysext.raw"}}, Sysupdate: true, BakeryURL: "https://x/"},
		"--sysupdate needs":                {Masks: []string{"docker-flatcar"}, Sysupdate: true, BakeryURL: "https://x/"},
	} {
		if _, err := provision.Butane(o); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one with %q", o, err, want)
		}
	}
}
