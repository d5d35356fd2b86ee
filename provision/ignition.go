package provision

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
	"github.com/coreos/ignition/v2/config"
	"github.com/coreos/ignition/v2/config/util"
	"github.com/coreos/vcontext/report"
)

// OEMConfigPath is where a baked Ignition config goes in the OEM
// partition: Flatcar's initrd reads /config.ign from the partition
// labelled OEM on first boot.
const OEMConfigPath = "/config.ign"

// MaxConfigSize bounds an Ignition config read from a file or an image.
const MaxConfigSize = 16 << 20

// Ignition is a validated Ignition config, ready to bake.
type Ignition struct {
	Source  string // the file it came from
	Version string // its spec version, e.g. 3.4.0
	Data    []byte // the JSON to write
}

// Load reads the Ignition config at path for the Flatcar release
// flatcarVersion ("" if unknown): JSON as it is, Butane (.bu, .yaml, .yml)
// transpiled by the butane binary with the file's directory as
// --files-dir. The result is validated (see Validate); warnings of
// Ignition's validator go to log.
func Load(ctx context.Context, path, flatcarVersion string, log *slog.Logger) (*Ignition, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".bu", ".yaml", ".yml":
		if data, err = transpile(ctx, path, log); err != nil {
			return nil, err
		}
	}
	version, warnings, err := Validate(path, data, flatcarVersion)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	return &Ignition{Source: path, Version: version, Data: data}, nil
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading Ignition config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading Ignition config: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("Ignition config %s is not a regular file", path)
	}
	if st.Size() > MaxConfigSize {
		return nil, fmt.Errorf("Ignition config %s is %d bytes, more than the %d MiB limit", path, st.Size(), MaxConfigSize>>20)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("reading Ignition config %s: %w", path, err)
	}
	return b.Bytes(), nil
}

// transpile runs butane on a Butane config.
func transpile(ctx context.Context, path string, log *slog.Logger) ([]byte, error) {
	bin, err := child.LookPath("butane")
	if err != nil {
		return nil, fmt.Errorf("%s is a Butane config and butane is not installed: install butane, or transpile it yourself (butane --strict --files-dir %s %s > config.ign) and pass the JSON",
			path, filepath.Dir(path), path)
	}
	args := []string{"--strict", "--files-dir", filepath.Dir(path), path}
	log.Debug("running", "cmd", bin+" "+strings.Join(args, " "))
	cmd := child.Command(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		return nil, fmt.Errorf("transpiling Butane config %s: butane: %s (%w)", path, msg, err)
	}
	return stdout.Bytes(), nil
}

// Validate checks data with Ignition's config library and returns its spec
// version and the validator's warnings. Errors name the file, the field
// and the line and column; a spec version newer than Flatcar
// flatcarVersion reads ("" if unknown), an experimental spec and a spec
// 2.x config are refused.
func Validate(name string, data []byte, flatcarVersion string) (version string, warnings []string, err error) {
	v, rpt, err := util.GetConfigVersion(data)
	if err != nil {
		if r := reportText(rpt); r != "" {
			return "", nil, fmt.Errorf("Ignition config %s: %s", name, r)
		}
		return "", nil, fmt.Errorf("Ignition config %s: %w", name, err)
	}
	version = v.String()
	if v.PreRelease != "" {
		return "", nil, fmt.Errorf("Ignition config %s: spec %s is experimental: Flatcar's Ignition may read it differently; use a stable spec", name, version)
	}
	if v.Major < 3 {
		return "", nil, fmt.Errorf("Ignition config %s: spec %s (2.x) cannot be validated by bake-os: write it as spec 3.x (or as Butane, variant flatcar)", name, version)
	}
	maxSpec, ign, err := MaxSpec(flatcarVersion)
	if err != nil {
		return "", nil, fmt.Errorf("Ignition config %s: %w", name, err)
	}
	if compareSpec(version, maxSpec) > 0 {
		return "", nil, fmt.Errorf("Ignition config %s: spec %s is newer than Flatcar %s reads (Ignition %s: up to %s); use spec %s or a newer Flatcar",
			name, version, flatcarVersion, ign, maxSpec, maxSpec)
	}
	_, rpt, err = config.Parse(data)
	if rpt.IsFatal() || err != nil {
		if r := reportText(rpt); r != "" {
			return "", nil, fmt.Errorf("Ignition config %s: %s", name, r)
		}
		return "", nil, fmt.Errorf("Ignition config %s: %w", name, err)
	}
	for _, e := range rpt.Entries {
		warnings = append(warnings, fmt.Sprintf("Ignition config %s: %s", name, entryText(e)))
	}
	return version, warnings, nil
}

// reportText is the fatal entries of a report, on one line.
func reportText(r report.Report) string {
	var parts []string
	for _, e := range r.Entries {
		if e.Kind == report.Error {
			parts = append(parts, entryText(e))
		}
	}
	return strings.Join(parts, "; ")
}

func entryText(e report.Entry) string {
	var where []string
	if p := e.Context.String(); p != "" && p != "$" {
		where = append(where, p)
	}
	if e.Marker.StartP != nil && e.Marker.StartP.Line > 0 {
		where = append(where, fmt.Sprintf("line %d col %d", e.Marker.StartP.Line, e.Marker.StartP.Column))
	}
	msg := strings.Join(strings.Fields(e.Message), " ")
	if len(where) == 0 {
		return msg
	}
	return strings.Join(where, ", ") + ": " + msg
}

// Merge returns a config that makes Ignition merge base (the config the
// image already holds) and then added: a parent whose
// ignition.config.merge lists both as data URLs, at the newer of their
// spec versions. Both must be valid already.
func Merge(base, added *Ignition) (*Ignition, error) {
	version := base.Version
	if compareSpec(added.Version, version) > 0 {
		version = added.Version
	}
	type resource struct {
		Source string `json:"source"`
	}
	var parent struct {
		Ignition struct {
			Version string `json:"version"`
			Config  struct {
				Merge []resource `json:"merge"`
			} `json:"config"`
		} `json:"ignition"`
	}
	parent.Ignition.Version = version
	for _, c := range []*Ignition{base, added} {
		parent.Ignition.Config.Merge = append(parent.Ignition.Config.Merge,
			resource{Source: "data:;base64," + base64.StdEncoding.EncodeToString(c.Data)})
	}
	data, err := json.Marshal(parent)
	if err != nil {
		return nil, fmt.Errorf("encoding merged Ignition config: %w", err)
	}
	if _, _, err := Validate("(merged)", data, ""); err != nil {
		return nil, err
	}
	return &Ignition{Source: base.Source + " + " + added.Source, Version: version, Data: data}, nil
}

// ErrExists reports an image that already holds an Ignition config.
var ErrExists = errors.New("the image already holds an Ignition config")
