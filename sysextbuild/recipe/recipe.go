package recipe

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/bake-os/bake-os/flatcar"
)

// Recipe describes how to build one extension from upstream artefacts. It is
// pure data, decoded strictly from recipes/<name>.json; the engine in
// build.go interprets it.
//
// Templates ({...}) may use {name}, {version} (exactly as listed upstream),
// {v} ({version} without one leading "v"), {vv} ("v" + {v}), {arch} (the
// recipe's upstream spelling), {goarch}, {uname} and every variable and
// option of the recipe.
type Recipe struct {
	// Name is the canonical recipe name and the default extension name.
	Name string `json:"name"`
	// Aliases are other accepted names (old underscore names); building
	// under an alias names the extension after the alias.
	Aliases []string `json:"aliases,omitempty"`
	// Description is one line for `sysext list`.
	Description string `json:"description"`
	// Kind is the source kind: "bin" (release binaries) or "ctr" (built in a
	// container).
	Kind SourceKind `json:"kind"`
	// Arch maps each supported bakery arch to the upstream {arch} spelling.
	Arch map[flatcar.Arch]string `json:"arch"`
	// Reload sets EXTENSION_RELOAD_MANAGER=1.
	Reload bool `json:"reload"`
	// Versions says where `sysext list RECIPE` finds upstream versions.
	Versions VersionSource `json:"versions"`
	// Options are recipe options (--key value), exposed as variables.
	Options []Option `json:"options,omitempty"`
	// Vars are computed in order; a later var of the same name wins when
	// its condition holds.
	Vars []Var `json:"vars,omitempty"`
	// Downloads are fetched, verified and unpacked in order.
	Downloads []Download `json:"downloads,omitempty"`
	// Build is a container (or host script) build, for "ctr" recipes.
	Build *Build `json:"build,omitempty"`
	// Rootfs installs packages in a distribution image and wraps entry
	// points with Flatwrap or Flix, for "ctr" recipes (btop, tilde).
	Rootfs *RootfsBuild `json:"rootfs,omitempty"`
	// StaticModes gives modes for embedded static files (default 0644).
	StaticModes map[string]string `json:"static_modes,omitempty"`
	// Generated files are written from templates after downloads.
	Generated []Generated `json:"generated,omitempty"`
	// Symlinks are created after downloads.
	Symlinks []Symlink `json:"symlinks,omitempty"`
	// Remove deletes paths from the tree (conditionally) at the end.
	Remove []Removal `json:"remove,omitempty"`
	// SysupdateMinor also writes NAME-vX.Y.conf with --sysupdate.
	SysupdateMinor bool `json:"sysupdate_minor,omitempty"`

	static fs.FS // recipefiles/<name>, nil when the recipe has none
}

// SourceKind is how a recipe gets its payload.
type SourceKind string

// Source kinds.
const (
	KindBinary    SourceKind = "bin"
	KindContainer SourceKind = "ctr"
)

// VersionSource is where upstream versions are listed.
type VersionSource struct {
	// Kind is one of github-releases, github-tags, gitlab-tags,
	// html-index, hashicorp, haproxy (branch index plus per-branch
	// releases.json), k8s-schedule, none.
	Kind string `json:"kind"`
	// Repo is owner/name for GitHub kinds.
	Repo string `json:"repo,omitempty"`
	// URL is the index page (html-index), the GitLab base URL with project
	// id (gitlab-tags: https://host/api/v4/projects/ID) or the API URL.
	URL string `json:"url,omitempty"`
	// Pattern is a regexp for html-index; its first group is the version.
	Pattern string `json:"pattern,omitempty"`
	// Include keeps only versions matching this regexp.
	Include string `json:"include,omitempty"`
	// Exclude drops versions matching this regexp.
	Exclude string `json:"exclude,omitempty"`
	// StripV removes one leading "v" from every version.
	StripV bool `json:"strip_v,omitempty"`
	// Min drops versions below it (leading v ignored).
	Min string `json:"min,omitempty"`
	// Latest selects --latest: "first" (default), "per-minor:N" (newest
	// patch of the N newest minors) or "k8s-minors" (one per supported
	// Kubernetes minor, from the k8s schedule).
	Latest string `json:"latest,omitempty"`
	// Unsorted keeps the source's order instead of sorting newest first.
	Unsorted bool `json:"unsorted,omitempty"`
}

// Option is a recipe option given as --key value (CreateOptions.Options).
type Option struct {
	Name    string `json:"name"`
	Help    string `json:"help"`
	Default string `json:"default,omitempty"`
	// Values lists the allowed values (empty: anything).
	Values []string `json:"values,omitempty"`
	// Multi allows the option several times (value list, comma-joined).
	Multi bool `json:"multi,omitempty"`
	// Required options must be given.
	Required bool `json:"required,omitempty"`
	// Latest resolves the value "latest" to the newest version of this
	// source.
	Latest *VersionSource `json:"latest,omitempty"`
	// Env maps an environment variable to the value it implies when set to
	// 1 (the old scripts' ONLY_DOCKER=1 style switches).
	Env map[string]string `json:"env,omitempty"`
}

// Var is a computed template variable.
type Var struct {
	Name string `json:"name"`
	// Value is a template.
	Value *string `json:"value,omitempty"`
	// PerArch gives the value per bakery arch.
	PerArch map[flatcar.Arch]string `json:"per_arch,omitempty"`
	// Fetch is a URL template whose trimmed body is the value.
	Fetch string     `json:"fetch,omitempty"`
	When  *Condition `json:"when,omitempty"`
}

// Condition gates a var, download, generated file or removal. All given
// fields must hold.
type Condition struct {
	// VersionMin holds when {v} >= VersionMin (leading v ignored).
	VersionMin string `json:"version_min,omitempty"`
	// VersionBelow holds when {v} < VersionBelow.
	VersionBelow string `json:"version_below,omitempty"`
	// Option with Equals holds when the option has that value (for multi
	// options: contains it); without Equals, when it is non-empty.
	Option string `json:"option,omitempty"`
	Equals string `json:"equals,omitempty"`
	// Unset holds when the named option is empty.
	Unset string `json:"unset,omitempty"`
}

// Download is one upstream artefact.
type Download struct {
	URL string `json:"url"`
	// Format is raw, tar, tar.gz, tar.xz, tar.zst or zip.
	Format string `json:"format"`
	// Checksum is how the artefact is verified; nil: upstream publishes
	// none.
	Checksum *Checksum `json:"checksum,omitempty"`
	// Dest is the tree path of a raw download.
	Dest string `json:"dest,omitempty"`
	// Mode of a raw download (octal string, default 0755).
	Mode string `json:"mode,omitempty"`
	// Strip drops leading path components of archive members.
	Strip int `json:"strip,omitempty"`
	// Members maps archive members into the tree; the first matching rule
	// wins for each member.
	Members []Member `json:"members,omitempty"`
	// Install runs an install script shipped in the archive instead of
	// (or after) member mapping.
	Install *InstallScript `json:"install,omitempty"`
	When    *Condition     `json:"when,omitempty"`
}

// Checksum names the upstream SHA-256 source of a download.
type Checksum struct {
	// Kind: "file" (URL holds bare hex or "hex  name" lines; the line for
	// the artefact's base name is used, or the only line) or
	// "github-digest" (URL is a GitHub release API URL; the asset's digest
	// field, warning when absent).
	Kind string `json:"kind"`
	URL  string `json:"url"`
}

// Member maps archive entries into the tree.
//
// Src forms: "dir/" maps everything below dir (or "" for the whole
// archive) to Dest + rest; a pattern with *, ? or [ matches whole entry
// names (a leading "**/" matches the base name at any depth) and each match
// goes to Dest/base; otherwise Src is one entry, placed at Dest (or
// Dest/base when Dest ends in "/").
type Member struct {
	Src  string `json:"src"`
	Dest string `json:"dest"`
	// Mode overrides the archive mode (octal string).
	Mode string `json:"mode,omitempty"`
	// Optional members may be missing from the archive.
	Optional bool `json:"optional,omitempty"`
	// Replace edits the file content (plain string replacement).
	Replace []Replacement `json:"replace,omitempty"`
}

// Replacement replaces every From by To.
type Replacement struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// InstallScript runs a script from the unpacked archive with bash.
type InstallScript struct {
	// Dir is the directory inside the unpacked archive.
	Dir    string `json:"dir"`
	Script string `json:"script"`
	// DropLines removes script lines matching this regexp first.
	DropLines string `json:"drop_lines,omitempty"`
	// Env are templates; {root} is the sysext tree.
	Env map[string]string `json:"env,omitempty"`
}

// Build is a container build: Script (an embedded file under
// recipefiles/<name>/, outside usr/ and opt/) runs in Image with the work
// dir mounted at /install_root, or on the host when Host is set. The
// resulting <workdir>/usr is copied into the tree.
type Build struct {
	Image string `json:"image,omitempty"`
	// Platform maps bakery arches to docker --platform values.
	Platform map[flatcar.Arch]string `json:"platform,omitempty"`
	Script   string                  `json:"script"`
	// Args are templates passed to the script.
	Args []string `json:"args,omitempty"`
	// EngineArgs are extra `run` arguments (--pull always, --network host).
	EngineArgs []string `json:"engine_args,omitempty"`
	// Host runs the script with bash on the host (it calls $ENGINE itself).
	Host bool `json:"host,omitempty"`
	// Moves renames tree paths after the build (src -> dest).
	Moves []Move `json:"moves,omitempty"`
}

// RootfsBuild runs Cmd in Image (oci.Rootfs), then ships Paths of the
// resulting root filesystem with Tool: "flatwrap" (whole rootfs under
// /usr/local/NAME plus wrappers) or "flix" (binaries with their libraries).
type RootfsBuild struct {
	Image string `json:"image"`
	Cmd   string `json:"cmd"`
	Tool  string `json:"tool"`
	// Paths are templates ({uname} is x86_64 or aarch64).
	Paths []string `json:"paths"`
	// EtcMap is flatwrap's /etc mapping: "host" (default) or "chroot".
	EtcMap string `json:"etc_map,omitempty"`
}

// Move renames Src to Dest in the tree.
type Move struct {
	Src  string `json:"src"`
	Dest string `json:"dest"`
}

// Generated is a file written from a template.
type Generated struct {
	Path    string     `json:"path"`
	Content string     `json:"content"`
	Mode    string     `json:"mode,omitempty"`
	When    *Condition `json:"when,omitempty"`
}

// Symlink is created at Path pointing to Target.
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
	// Require fails the build when the target (resolved in the tree) is
	// missing; IfExists skips the link instead.
	Require  bool `json:"require,omitempty"`
	IfExists bool `json:"if_exists,omitempty"`
}

// Removal deletes Paths (missing ones are fine) when When holds.
type Removal struct {
	Paths []string   `json:"paths"`
	When  *Condition `json:"when,omitempty"`
}

//go:embed recipes/*.json
var recipeFS embed.FS

//go:embed all:recipefiles
var staticFS embed.FS

var (
	loadOnce   sync.Once
	loaded     []Recipe
	errLoading error
)

// All returns every built-in recipe sorted by name. The embedded data
// is validated by the package tests; an invalid recipe set panics here only
// if a broken build slipped through.
func All() []Recipe {
	rs, err := loadRecipes()
	if err != nil {
		panic(err)
	}
	return append([]Recipe(nil), rs...)
}

// Lookup finds a recipe by name or alias.
func Lookup(name string) (Recipe, error) {
	rs, err := loadRecipes()
	if err != nil {
		return Recipe{}, err
	}
	for _, r := range rs {
		if r.Name == name || contains(r.Aliases, name) {
			return r, nil
		}
	}
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		names = append(names, r.Name)
	}
	return Recipe{}, fmt.Errorf("unknown recipe %q: see `bake-os sysext list` (known: %s)", name, strings.Join(names, ", "))
}

func loadRecipes() ([]Recipe, error) {
	loadOnce.Do(func() { loaded, errLoading = decodeRecipes(recipeFS, staticFS) })
	return loaded, errLoading
}

// decodeRecipes decodes every recipes/*.json strictly and validates the set,
// returning one error listing every problem.
func decodeRecipes(recipes, static fs.FS) ([]Recipe, error) {
	files, err := fs.Glob(recipes, "recipes/*.json")
	if err != nil {
		return nil, fmt.Errorf("listing recipes: %w", err)
	}
	var probs problems
	var out []Recipe
	for _, f := range files {
		data, err := fs.ReadFile(recipes, f)
		if err != nil {
			probs.add(f, "reading: %v", err)
			continue
		}
		if r, ok := decodeRecipe(f, data, static, &probs); ok {
			out = append(out, r)
		}
	}
	seen := map[string]string{}
	for _, r := range out {
		for _, n := range append([]string{r.Name}, r.Aliases...) {
			if prev, ok := seen[n]; ok {
				probs.add("recipes/"+r.Name+".json", "name %q already used by recipe %q", n, prev)
			}
			seen[n] = r.Name
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if err := probs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeRecipe decodes one recipe file strictly (unknown fields and
// trailing data refused), attaches its static files and validates it,
// adding every problem to probs. ok is false when it could not be decoded.
func decodeRecipe(f string, data []byte, static fs.FS, probs *problems) (r Recipe, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		probs.add(f, "decoding: %v", err)
		return Recipe{}, false
	}
	if dec.More() {
		probs.add(f, "trailing data after the recipe object")
		return Recipe{}, false
	}
	if want := strings.TrimSuffix(path.Base(f), ".json"); r.Name != want {
		probs.add(f+": name", "%q does not match the file name %q", r.Name, want)
	}
	if sub, err := fs.Sub(static, "recipefiles/"+r.Name); err == nil {
		if _, err := fs.Stat(sub, "."); err == nil {
			r.static = sub
		}
	}
	r.validate(f, probs)
	return r, true
}

func parseMode(m string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(m, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, errors.New("mode " + strconv.Quote(m) + " is not an octal permission like 0755")
	}
	return fs.FileMode(v), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
