package provision

import (
	"bytes"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Butane variant and version of the configs [Butane] writes: the ones
// Flatcar's and the sysext bakery's documentation use. Butane turns
// flatcar 1.0.0 into Ignition spec 3.3.0, which every Flatcar from
// 3185.0.0 reads.
const (
	ButaneVariant = "flatcar"
	ButaneVersion = "1.0.0"
)

// Automatic updates of sysexts with systemd-sysupdate, as the sysext
// bakery sets them up: the timer starts systemd-sysupdate.service, each
// extension NAME adds a drop-in NAME.conf running the update of its
// component (/etc/sysupdate.NAME.d), and the drop-in sysext.conf restarts
// systemd-sysext afterwards so that new images are merged.
const (
	SysupdateTimer   = "systemd-sysupdate.timer"
	SysupdateService = "systemd-sysupdate.service"
	// RefreshDropInName is the drop-in restarting systemd-sysext after an
	// update; a sysext named like it ("sysext") cannot be auto-updated.
	RefreshDropInName = "sysext.conf"
	RefreshDropIn     = "[Service]\nExecStartPost=systemctl restart systemd-sysext\n"
	// NoopConfPath lets systemd-sysupdate run when only per-extension
	// components exist.
	NoopConfPath = "/etc/sysupdate.d/noop.conf"
)

// SysupdateDropIn is the systemd-sysupdate.service drop-in (NAME.conf)
// that updates the extension name.
func SysupdateDropIn(name string) string {
	return "[Service]\nExecStartPre=/usr/lib/systemd/systemd-sysupdate -C " + name + " update\n"
}

// SysupdateConfPath is where the sysupdate transfer of extension name
// goes: its own component directory, updated with "-C name".
func SysupdateConfPath(name string) string {
	return fmt.Sprintf("/etc/sysupdate.%s.d/%s.conf", name, name)
}

// ButaneSysext is one extension to install at provisioning time: File is
// the bakery's file name (NAME-VERSION-ARCH.raw), SHA256 its checksum
// when known (hex; it becomes the file's verification hash).
type ButaneSysext struct {
	Name, File, SHA256 string
}

// ButaneOptions say what [Butane] writes.
type ButaneOptions struct {
	Sysexts   []ButaneSysext
	Masks     []string // extensions to disable: /etc/extensions/NAME.raw -> /dev/null
	Sysupdate bool     // auto-update every sysext with systemd-sysupdate
	BakeryURL string   // where FILE and NAME.conf are downloaded from
	NoopConf  string   // the content of /etc/sysupdate.d/noop.conf (with Sysupdate)
}

// butaneName is what a name must look like to become a path and a unit
// drop-in name (sysext.ValidName is the full rule; callers apply it).
var butaneName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// Butane writes a Butane config (variant flatcar) that installs the
// sysexts at provisioning time the way a bake places them:
// /opt/extensions/NAME/FILE downloaded from BakeryURL/FILE (mode 0644,
// verified by its sha256 when known), /etc/extensions/NAME.raw linking to
// it, masks as links to /dev/null and, with Sysupdate, the sysupdate
// transfer BakeryURL/NAME.conf, noop.conf, the enabled timer and the
// systemd-sysupdate.service drop-ins. The output is deterministic: the
// order of Sysexts and Masks is kept.
func Butane(o ButaneOptions) ([]byte, error) {
	base, err := url.Parse(o.BakeryURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("invalid bakery URL %q: use an absolute http(s) URL", o.BakeryURL)
	}
	if len(o.Sysexts) == 0 && len(o.Masks) == 0 {
		return nil, fmt.Errorf("nothing to provision: give NAME:FILE or --mask NAME")
	}
	seen := map[string]string{}
	claim := func(name, what string) error {
		if !butaneName.MatchString(name) || strings.Contains(name, "..") {
			return fmt.Errorf("invalid %s name %q: use letters, digits, '.', '_' and '-' only", what, name)
		}
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("%s %s is also given as %s: each name once", what, name, prev)
		}
		seen[name] = what
		return nil
	}
	for _, s := range o.Sysexts {
		if err := claim(s.Name, "sysext"); err != nil {
			return nil, err
		}
		if !butaneName.MatchString(s.File) || !strings.HasSuffix(s.File, ".raw") {
			return nil, fmt.Errorf("sysext %s: file name %q must be a plain NAME-VERSION-ARCH.raw as the bakery serves it", s.Name, s.File)
		}
		if s.SHA256 != "" && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s.SHA256) {
			return nil, fmt.Errorf("sysext %s: sha256 %q is not 64 hex digits", s.Name, s.SHA256)
		}
		if o.Sysupdate && s.Name+".conf" == RefreshDropInName {
			return nil, fmt.Errorf("sysext %s: its update drop-in would be %s, which restarts systemd-sysext; rename the extension to auto-update it", s.Name, RefreshDropInName)
		}
	}
	for _, m := range o.Masks {
		if err := claim(m, "mask"); err != nil {
			return nil, err
		}
	}
	if o.Sysupdate && len(o.Sysexts) == 0 {
		return nil, fmt.Errorf("--sysupdate needs at least one NAME:FILE")
	}

	var cfg butaneConfig
	cfg.Variant, cfg.Version = ButaneVariant, ButaneVersion
	for _, s := range o.Sysexts {
		dest := path.Join("/opt/extensions", s.Name, s.File)
		f := butaneFile{Path: dest, Mode: modeRW, Contents: butaneContents{Source: joinURL(base, s.File)}}
		if s.SHA256 != "" {
			f.Contents.Verification = &butaneVerification{Hash: "sha256-" + s.SHA256}
		}
		cfg.Storage.Files = append(cfg.Storage.Files, f)
		cfg.Storage.Links = append(cfg.Storage.Links, butaneLink{Path: "/etc/extensions/" + s.Name + ".raw", Target: dest, Hard: new(bool)})
	}
	for _, m := range o.Masks {
		t := true
		cfg.Storage.Links = append(cfg.Storage.Links, butaneLink{Path: "/etc/extensions/" + m + ".raw", Target: "/dev/null", Overwrite: &t})
	}
	if o.Sysupdate {
		var dropins []butaneDropIn
		for _, s := range o.Sysexts {
			cfg.Storage.Files = append(cfg.Storage.Files, butaneFile{Path: SysupdateConfPath(s.Name), Mode: modeRW,
				Contents: butaneContents{Source: joinURL(base, s.Name+".conf")}})
			dropins = append(dropins, butaneDropIn{Name: s.Name + ".conf", Contents: SysupdateDropIn(s.Name)})
		}
		noop := butaneFile{Path: NoopConfPath, Mode: modeRW, Contents: butaneContents{Inline: o.NoopConf}}
		if o.NoopConf == "" {
			noop.Contents.Source = joinURL(base, "noop.conf")
		}
		cfg.Storage.Files = append(cfg.Storage.Files, noop)
		dropins = append(dropins, butaneDropIn{Name: RefreshDropInName, Contents: RefreshDropIn})
		t := true
		cfg.Systemd = &butaneSystemd{Units: []butaneUnit{
			{Name: SysupdateTimer, Enabled: &t},
			{Name: SysupdateService, DropIns: dropins},
		}}
	}

	var buf bytes.Buffer
	buf.WriteString("# Butane config written by bake-os: transpile it with\n# butane --strict < config.bu > config.ign\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&cfg); err != nil {
		return nil, fmt.Errorf("encoding Butane config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding Butane config: %w", err)
	}
	return buf.Bytes(), nil
}

// joinURL appends a file name to the bakery URL's path.
func joinURL(base *url.URL, file string) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + file
	u.RawPath = ""
	return u.String()
}

// The subset of Butane's flatcar 1.0.0 schema the generator writes.
type butaneConfig struct {
	Variant string         `yaml:"variant"`
	Version string         `yaml:"version"`
	Storage butaneStorage  `yaml:"storage,omitempty"`
	Systemd *butaneSystemd `yaml:"systemd,omitempty"`
}

type butaneStorage struct {
	Files []butaneFile `yaml:"files,omitempty"`
	Links []butaneLink `yaml:"links,omitempty"`
}

type butaneFile struct {
	Path     string         `yaml:"path"`
	Mode     fileMode       `yaml:"mode,omitempty"`
	Contents butaneContents `yaml:"contents"`
}

type butaneContents struct {
	Source       string              `yaml:"source,omitempty"`
	Inline       string              `yaml:"inline,omitempty"`
	Verification *butaneVerification `yaml:"verification,omitempty"`
}

type butaneVerification struct {
	Hash string `yaml:"hash"`
}

type butaneLink struct {
	Path      string `yaml:"path"`
	Target    string `yaml:"target"`
	Hard      *bool  `yaml:"hard,omitempty"`
	Overwrite *bool  `yaml:"overwrite,omitempty"`
}

type butaneSystemd struct {
	Units []butaneUnit `yaml:"units"`
}

type butaneUnit struct {
	Name    string         `yaml:"name"`
	Enabled *bool          `yaml:"enabled,omitempty"`
	DropIns []butaneDropIn `yaml:"dropins,omitempty"`
}

type butaneDropIn struct {
	Name     string `yaml:"name"`
	Contents string `yaml:"contents"`
}

// fileMode is a file mode written in octal (0644), as Butane configs
// spell it; YAML reads a leading 0 as octal.
type fileMode uint32

const modeRW fileMode = 0o644

func (m fileMode) IsZero() bool { return m == 0 }

func (m fileMode) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprintf("0%o", uint32(m))}, nil
}
