package provision_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config"

	"github.com/bake-os/bake-os/provision"
)

const validConfig = `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAAC3 test"]}]}}`

func TestValidateRefusals(t *testing.T) {
	for _, c := range []struct {
		name, data, flatcar string
		want                []string
	}{
		{"relative path", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"etc/x"}]}}`, "",
			[]string{"c.ign", "$.storage.files.0.path", "line 1 col", "path not absolute"}},
		{"bad mode type", "{\"ignition\":{\"version\":\"3.3.0\"},\n\"storage\":{\"files\":[{\"path\":\"/x\",\"mode\":\"0644\"}]}}", "",
			[]string{"line 2 col", "mode"}},
		{"not JSON", `{"ignition": x}`, "", []string{"c.ign", "line 1 col"}},
		{"truncated", `{"ignition":`, "", []string{"c.ign", "unexpected end"}},
		{"no version", `{"passwd":{}}`, "", []string{"c.ign"}},
		{"spec 2.x", `{"ignition":{"version":"2.3.0"}}`, "", []string{"2.3.0", "spec 3.x"}},
		{"experimental", `{"ignition":{"version":"3.6.0-experimental"}}`, "", []string{"experimental"}},
		{"too new for the release", `{"ignition":{"version":"3.5.0"}}`, "3815.2.5", []string{"3.5.0", "3815.2.5", "up to 3.4.0"}},
		{"Ignition 0.x release", validConfig, "3033.2.4", []string{"spec 2.x configs only", "3185"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := provision.Validate("c.ign", []byte(c.data), c.flatcar)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, c := range []struct{ data, flatcar, version string }{
		{validConfig, "4593.2.5", "3.4.0"},
		{`{"ignition":{"version":"3.5.0"}}`, "4593.2.5", "3.5.0"},
		{`{"ignition":{"version":"3.3.0"}}`, "3185.0.0", "3.3.0"},
		{`{"ignition":{"version":"3.0.0"}}`, "", "3.0.0"},
	} {
		v, _, err := provision.Validate("c.ign", []byte(c.data), c.flatcar)
		if err != nil || v != c.version {
			t.Errorf("%s on %s: %q, %v", c.data, c.flatcar, v, err)
		}
	}
}

func TestMaxSpec(t *testing.T) {
	for flatcar, want := range map[string]string{"3185.0.0": "3.3.0", "3510.2.8": "3.3.0", "3535.0.0": "3.4.0",
		"4081.3.10": "3.4.0", "4152.2.0": "3.5.0", "4593.2.5": "3.5.0", "9999.0.0": "3.5.0", "": "3.5.0"} {
		if got, _, err := provision.MaxSpec(flatcar); err != nil || got != want {
			t.Errorf("MaxSpec(%q) = %q, %v; want %s", flatcar, got, err, want)
		}
	}
}

// TestMerge: the parent config is valid for Ignition's own parser and
// carries both configs, unchanged, as data URLs in order.
func TestMerge(t *testing.T) {
	base := &provision.Ignition{Source: "old", Version: "3.3.0", Data: []byte(`{"ignition":{"version":"3.3.0"}}`)}
	added := &provision.Ignition{Source: "new", Version: "3.4.0", Data: []byte(validConfig)}
	m, err := provision.Merge(base, added)
	if err != nil {
		t.Fatal(err)
	}
	cfg, rpt, err := config.Parse(m.Data)
	if err != nil || rpt.IsFatal() {
		t.Fatalf("merged config: %v %s", err, rpt)
	}
	if m.Version != "3.4.0" || len(cfg.Ignition.Config.Merge) != 2 {
		t.Fatalf("version %s, %d merges", m.Version, len(cfg.Ignition.Config.Merge))
	}
	for i, want := range []*provision.Ignition{base, added} {
		src := *cfg.Ignition.Config.Merge[i].Source
		got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:;base64,"))
		if err != nil || string(got) != string(want.Data) {
			t.Errorf("merge %d = %q, %v", i, got, err)
		}
	}
}

func TestLoadButane(t *testing.T) {
	dir := t.TempDir()
	bu := filepath.Join(dir, "config.bu")
	os.WriteFile(bu, []byte("variant: flatcar\nversion: 1.1.0\n"), 0o644)
	t.Setenv("PATH", dir) // no butane
	_, err := provision.Load(context.Background(), bu, "", nil)
	if err == nil || !strings.Contains(err.Error(), "butane is not installed") || !strings.Contains(err.Error(), "--files-dir "+dir) {
		t.Fatalf("without butane: %v", err)
	}
	// A butane on PATH is run with --files-dir set to the config's
	// directory, and what it prints is validated like any config. (This
	// stand-in records its arguments; Debian has no butane package.)
	bin := t.TempDir()
	script := "#!/bin/sh\necho \"$@\" > " + filepath.Join(dir, "args") + "\nprintf '%s' '" + validConfig + "'\n"
	os.WriteFile(filepath.Join(bin, "butane"), []byte(script), 0o755)
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	ign, err := provision.Load(context.Background(), bu, "4593.2.5", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(ign.Data) != validConfig || ign.Version != "3.4.0" {
		t.Errorf("loaded %q %s", ign.Data, ign.Version)
	}
	if args, _ := os.ReadFile(filepath.Join(dir, "args")); strings.TrimSpace(string(args)) != "--strict --files-dir "+dir+" "+bu {
		t.Errorf("butane ran with %q", args)
	}
	// butane's output is validated too.
	os.WriteFile(filepath.Join(bin, "butane"), []byte("#!/bin/sh\necho '{\"ignition\":{\"version\":\"3.4.0\"},\"storage\":{\"files\":[{\"path\":\"x\"}]}}'\n"), 0o755)
	if _, err := provision.Load(context.Background(), bu, "", nil); err == nil || !strings.Contains(err.Error(), "path not absolute") {
		t.Errorf("invalid butane output: %v", err)
	}
}

func TestLoadRefusesOddFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := provision.Load(context.Background(), dir, "", nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.ign")
	f, _ := os.Create(big)
	f.Truncate(provision.MaxConfigSize + 1)
	f.Close()
	if _, err := provision.Load(context.Background(), big, "", nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized: %v", err)
	}
	if _, err := provision.Load(context.Background(), filepath.Join(dir, "none.ign"), "", nil); err == nil {
		t.Error("missing file accepted")
	}
}
