package recipe

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// The valid base recipes the validation cases plant one defect in: a bin
// recipe using every section a bin recipe may have, a container build
// and a root filesystem build. Each is accepted as it stands.
const (
	validBin = `{
	"name": "t", "aliases": ["t_old"], "description": "a test recipe", "kind": "bin",
	"arch": {"x86-64": "amd64", "arm64": "arm64"}, "reload": true, "sysupdate_minor": true,
	"versions": {"kind": "github-releases", "repo": "o/t", "min": "1.0", "include": "^v1", "exclude": "rc", "latest": "per-minor:2"},
	"options": [{"name": "flavour", "help": "which flavour", "values": ["small", "big"], "env": {"T_BIG": "big"},
		"latest": {"kind": "html-index", "url": "https://x/", "pattern": "t-([0-9.]+)"}}],
	"vars": [
		{"name": "suffix", "value": "-{flavour}", "when": {"option": "flavour", "equals": "big"}},
		{"name": "triple", "per_arch": {"x86-64": "x86_64", "arm64": "aarch64"}},
		{"name": "sha", "fetch": "https://x/{version}/{triple}.sha"}],
	"downloads": [
		{"url": "https://x/{version}/t-{arch}{suffix}", "format": "raw", "dest": "usr/bin/t", "mode": "0755",
			"checksum": {"kind": "file", "url": "https://x/{version}/SHA256SUMS"}},
		{"url": "https://x/{version}/t-{arch}.tar.gz", "format": "tar.gz", "strip": 1,
			"members": [{"src": "lib/", "dest": "usr/lib/t/", "mode": "0644"}, {"src": "**/*.so", "dest": "opt/t"}],
			"install": {"dir": "t", "script": "install.sh", "drop_lines": "^sudo ", "env": {"PREFIX": "{root}/usr"}},
			"when": {"version_min": "1.2", "version_below": "v3"}}],
	"static_modes": {"usr/share/t/t.conf": "0600"},
	"generated": [{"path": "usr/lib/systemd/system/t.service", "content": "ExecStart=/usr/bin/t {flavour}\n", "mode": "0644",
		"when": {"unset": "flavour"}}],
	"symlinks": [{"path": "usr/bin/tt", "target": "t", "require": true}],
	"remove": [{"paths": ["usr/sbin", "usr/lib/t/docs"], "when": {"option": "flavour"}}]
}`
	validBuild = `{
	"name": "t", "description": "a container build", "kind": "ctr",
	"arch": {"x86-64": "amd64", "arm64": "arm64"}, "versions": {"kind": "none"},
	"build": {"image": "debian:12", "platform": {"x86-64": "amd64", "arm64": "arm64"}, "script": "build.sh",
		"args": ["{version}", "{arch}"], "engine_args": ["--network", "host"],
		"moves": [{"src": "usr/sbin/t", "dest": "usr/bin/t"}]}
}`
	validRootfs = `{
	"name": "t", "description": "a root filesystem build", "kind": "ctr",
	"arch": {"x86-64": "amd64", "arm64": "arm64"}, "versions": {"kind": "github-tags", "repo": "o/t"},
	"rootfs": {"image": "debian:12", "cmd": "apt-get install -y t", "tool": "flix", "paths": ["/usr/bin/t", "/usr/lib/{uname}-linux-gnu/t"],
		"etc_map": "chroot"}
}`
)

// staticOf is the recipefiles tree each base recipe comes with.
var staticOf = map[string]fstest.MapFS{
	validBin:    {"recipefiles/t/usr/share/t/t.conf": {Data: []byte("x=1\n")}},
	validBuild:  {"recipefiles/t/build.sh": {Data: []byte("#!/bin/sh\n")}},
	validRootfs: {},
}

// del as a value removes the field.
var del = &struct{}{}

// setField sets the field at path (dots between keys, [i] for list
// elements; i equal to the list's length appends) in a decoded JSON
// value, or removes it when v is del.
func setField(t *testing.T, doc any, path string, v any) {
	t.Helper()
	var keys []string
	for _, part := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		keys = append(keys, name)
		for rest != "" {
			var idx string
			idx, rest, _ = strings.Cut(rest, "]")
			keys = append(keys, "["+idx)
			rest = strings.TrimPrefix(rest, "[")
		}
	}
	var walk func(cur any, keys []string) any
	walk = func(cur any, keys []string) any {
		k := keys[0]
		if strings.HasPrefix(k, "[") {
			list, ok := cur.([]any)
			i, err := strconv.Atoi(k[1:])
			if !ok || err != nil || i > len(list) {
				t.Fatalf("%s: no element %s in %v", path, k, cur)
			}
			if len(keys) == 1 {
				if v == del {
					return append(list[:i:i], list[i+1:]...)
				}
				if i == len(list) {
					return append(list, v)
				}
				list[i] = v
				return list
			}
			list[i] = walk(list[i], keys[1:])
			return list
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: no field %s in %v", path, k, cur)
		}
		switch {
		case len(keys) > 1:
			next, ok := obj[k]
			if !ok {
				next = map[string]any{}
			}
			obj[k] = walk(next, keys[1:])
		case v == del:
			delete(obj, k)
		default:
			obj[k] = v
		}
		return obj
	}
	walk(doc, keys)
}

// validateDoc decodes the recipe JSON doc (with the static files static)
// the way the built-in recipes are decoded, as recipes/NAME.json.
func validateDoc(t *testing.T, doc map[string]any, static fstest.MapFS) error {
	t.Helper()
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := doc["name"].(string)
	_, err = decodeRecipes(fstest.MapFS{"recipes/" + name + ".json": {Data: data}}, static)
	return err
}

// TestRecipeValidationPerSection plants one defect per case in a valid
// base recipe and asserts the whole refusal: every problem line, each
// naming the section and field. It reaches every check in validate.go.
func TestRecipeValidationPerSection(t *testing.T) {
	for _, base := range []string{validBin, validBuild, validRootfs} {
		var doc map[string]any
		if err := json.Unmarshal([]byte(base), &doc); err != nil {
			t.Fatal(err)
		}
		if err := validateDoc(t, doc, staticOf[base]); err != nil {
			t.Fatalf("valid base refused: %v\n%s", err, base)
		}
	}
	type edit struct {
		path string
		v    any
	}
	// f is the field path prefix of every problem.
	const f = "recipes/t.json: "
	for _, c := range []struct {
		section string
		base    string
		edits   []edit
		static  map[string]string // files added to the base's recipefiles/ ("" removes)
		want    []string
	}{
		// header
		{section: "header", base: validRootfs, edits: []edit{{"name", "T"}},
			want: []string{`recipes/T.json: name: "T" is not a valid recipe name`}},
		{section: "header", base: validBin, edits: []edit{{"aliases[1]", "t old"}},
			want: []string{f + `aliases[1]: "t old" is not a valid name`}},
		{section: "header", base: validBin, edits: []edit{{"description", del}},
			want: []string{f + `description: missing`}},
		{section: "header", base: validBin, edits: []edit{{"downloads", del}},
			want: []string{f + `downloads: a bin recipe needs at least one download`}},
		{section: "header", base: validBuild, edits: []edit{{"build", del}},
			want: []string{f + `build: a ctr recipe needs exactly one of build and rootfs`}},
		{section: "header", base: validBin, edits: []edit{{"kind", "src"}},
			want: []string{f + `kind: "src" is not bin or ctr`}},
		{section: "header", base: validBin, edits: []edit{{"arch.arm64", del}},
			want: []string{f + `arch: missing the upstream spelling for arm64`}},
		{section: "header", base: validBin, edits: []edit{{"arch.riscv", "riscv64"}},
			want: []string{f + `arch: "riscv" is not x86-64 or arm64`}},
		// versions (a header field; the same check serves options[].latest)
		{section: "versions", base: validBin, edits: []edit{{"versions.kind", "gitlab"}},
			want: []string{f + `versions.kind: "gitlab" is not one of [github-releases github-tags gitlab-tags html-index hashicorp haproxy k8s-schedule none]`}},
		{section: "versions", base: validRootfs, edits: []edit{{"versions.repo", "t"}},
			want: []string{f + `versions.repo: "t" is not owner/name`}},
		{section: "versions", base: validBuild, edits: []edit{{"versions.kind", "gitlab-tags"}},
			want: []string{f + `versions.url: missing`}},
		{section: "versions", base: validBuild, edits: []edit{{"versions", map[string]any{"kind": "html-index", "url": "https://x/"}}},
			want: []string{f + `versions: html-index needs url and pattern`}},
		{section: "versions", base: validBin, edits: []edit{{"versions.min", "one"}},
			want: []string{f + `versions.min: "one" is not a version`}},
		{section: "versions", base: validBin, edits: []edit{{"versions.exclude", "rc("}},
			want: []string{f + "versions.exclude: error parsing regexp: missing closing ): `rc(`"}},
		{section: "versions", base: validBin, edits: []edit{{"versions.pattern", "t-[0-9.]+"}},
			want: []string{f + `versions.pattern: needs a group capturing the version`}},
		{section: "versions", base: validBin, edits: []edit{{"versions.latest", "per-minor:0"}},
			want: []string{f + `versions.latest: "per-minor:0": per-minor needs a positive count`}},
		{section: "versions", base: validBin, edits: []edit{{"versions.latest", "newest"}},
			want: []string{f + `versions.latest: "newest" is not first, per-minor:N or k8s-minors`}},
		// options
		{section: "options", base: validBin, edits: []edit{{"options[0].name", "Flavour"}, {"vars[0].when.option", del}, {"vars[0].when.equals", del},
			{"vars[0].value", "-x"}, {"generated[0]", del}, {"remove[0].when", del}},
			want: []string{f + `options[0].name: "Flavour" is not a valid option name`}},
		{section: "options", base: validBin, edits: []edit{{"options[0].help", ""}},
			want: []string{f + `options[0].help: missing`}},
		{section: "options", base: validBin, edits: []edit{{"options[0].latest.pattern", del}},
			want: []string{f + `options[0].latest: html-index needs url and pattern`}},
		{section: "options", base: validBin, edits: []edit{{"options[0].env.T_BIG", "huge"}},
			want: []string{f + `options[0].env.T_BIG: value "huge" is not one of [small big]`}},
		// vars (and when-conditions, checked by the same function everywhere)
		{section: "vars", base: validBin, edits: []edit{{"vars[1].name", "Triple"}, {"vars[2].fetch", "https://x/{version}/sha"}},
			want: []string{f + `vars[1].name: "Triple" is not a valid variable name`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[0].value", "-{flavor}"}},
			want: []string{f + `vars[0].value: unknown placeholder {flavor}`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[1].per_arch.arm64", del}},
			want: []string{f + `vars[1].per_arch: needs x86-64 and arm64`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[2].fetch", "https://x/{sha}"}},
			want: []string{f + `vars[2].fetch: unknown placeholder {sha}`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[2].value", "abc"}},
			want: []string{f + `vars[2]: needs exactly one of value, per_arch, fetch`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[1].per_arch", del}},
			want: []string{f + `vars[1]: needs exactly one of value, per_arch, fetch`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[0].when", map[string]any{"version_min": "1.x!", "version_below": "2"}}},
			want: []string{f + `vars[0].when: "1.x!" is not a version`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[0].when.option", "flavor"}},
			want: []string{f + `vars[0].when.option: unknown option "flavor"`}},
		{section: "vars", base: validBin, edits: []edit{{"vars[0].when.option", del}},
			want: []string{f + `vars[0].when.equals: needs option`}},
		// downloads
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].url", "https://x/{versoin}"}},
			want: []string{f + `downloads[0].url: unknown placeholder {versoin}`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].url", "ftp://x/t.tar.gz"}},
			want: []string{f + `downloads[1].url: "ftp://x/t.tar.gz" is not an http(s) URL`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].format", "tgz"}},
			want: []string{f + `downloads[1].format: "tgz" is not one of [raw tar tar.gz tar.xz tar.zst zip]`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].checksum.url", "https://x/{tag}/SHA256SUMS"}},
			want: []string{f + `downloads[0].checksum.url: unknown placeholder {tag}`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].checksum.kind", "sha256"}},
			want: []string{f + `downloads[0].checksum.kind: "sha256" is not file or github-digest`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].mode", "0855"}},
			want: []string{f + `downloads[0].mode: mode "0855" is not an octal permission like 0755`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].dest", del}},
			want: []string{f + `downloads[0].dest: missing`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].dest", "usr/bin/{tool}"}},
			want: []string{f + `downloads[0].dest: unknown placeholder {tool}`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[0].strip", 1}},
			want: []string{f + `downloads[0]: a raw download has no members, install or strip`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].dest", "/usr/lib/t"}},
			want: []string{f + `downloads[1].dest: "/usr/lib/t" must be a clean relative path`,
				f + `downloads[1]: an archive download maps members instead of dest/mode`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].mode", "0644"}},
			want: []string{f + `downloads[1]: an archive download maps members instead of dest/mode`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].members", del}, {"downloads[1].install", del}},
			want: []string{f + `downloads[1].members: an archive download needs members or install`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].members[0].dest", "usr/lib/../../t/"}},
			want: []string{f + `downloads[1].members[0].dest: "usr/lib/../../t" must be a clean relative path`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].members[1].src", "**/{lib}*.so"}},
			want: []string{f + `downloads[1].members[1].src: unknown placeholder {lib}`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].members[1].dest", "opt/{name}/{libdir}"}},
			want: []string{f + `downloads[1].members[1].dest: unknown placeholder {libdir}`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].members[0].mode", "rw-r--r--"}},
			want: []string{f + `downloads[1].members[0].mode: mode "rw-r--r--" is not an octal permission like 0755`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].members[1].src", "**/[a-"}},
			want: []string{f + `downloads[1].members[1].src: bad pattern "**/[a-": syntax error in pattern`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].install.script", del}},
			want: []string{f + `downloads[1].install.script: missing`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].install.drop_lines", "^sudo ("}},
			want: []string{f + "downloads[1].install.drop_lines: error parsing regexp: missing closing ): `^sudo (`"}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].install.env.PREFIX", "{prefix}/usr"}},
			want: []string{f + `downloads[1].install.env.PREFIX: unknown placeholder {prefix}`}},
		{section: "downloads", base: validBin, edits: []edit{{"downloads[1].when.unset", "flavor"}},
			want: []string{f + `downloads[1].when.unset: unknown option "flavor"`}},
		// build
		{section: "build", base: validBin, edits: []edit{{"build", map[string]any{"host": true, "script": "build.sh"}}},
			static: map[string]string{"build.sh": "#!/bin/sh\n"},
			want:   []string{f + `build: only ctr recipes build`}},
		{section: "build", base: validBuild, edits: []edit{{"build.script", del}},
			want: []string{f + `build.script: missing`}},
		{section: "build", base: validBuild, static: map[string]string{"build.sh": ""},
			want: []string{f + `build.script: recipefiles/t/ is missing`}},
		{section: "build", base: validBuild, edits: []edit{{"build.script", "make.sh"}},
			want: []string{f + `build.script: recipefiles/t/make.sh is missing`}},
		{section: "build", base: validBuild, edits: []edit{{"build.platform.arm64", del}},
			want: []string{f + `build: a container build needs image and platform for both arches`}},
		{section: "build", base: validBuild, edits: []edit{{"build.args[1]", "{platform}"}},
			want: []string{f + `build.args[1]: unknown placeholder {platform}`}},
		{section: "build", base: validBuild, edits: []edit{{"build.moves[0].src", "../t"}},
			want: []string{f + `build.moves[0].src: "../t" must be a clean relative path`}},
		{section: "build", base: validBuild, edits: []edit{{"build.moves[0].dest", "usr/sbin/t"}},
			want: []string{f + `build.moves[0].dest: "usr/sbin/t" is under usr/sbin, which would hide the host's /usr/sbin`}},
		// rootfs
		{section: "rootfs", base: validRootfs, edits: []edit{{"kind", "bin"}, {"downloads", []any{map[string]any{"url": "https://x/t", "format": "raw", "dest": "usr/bin/t"}}}},
			want: []string{f + `rootfs: only ctr recipes build a rootfs`, f + `rootfs: a rootfs recipe ships only what the wrapper tool makes`}},
		{section: "rootfs", base: validRootfs, edits: []edit{{"rootfs.cmd", del}},
			want: []string{f + `rootfs: needs image, cmd and paths`}},
		{section: "rootfs", base: validRootfs, edits: []edit{{"rootfs.tool", "flatpak"}},
			want: []string{f + `rootfs.tool: "flatpak" is not flatwrap or flix`}},
		{section: "rootfs", base: validRootfs, edits: []edit{{"rootfs.etc_map", "bind"}},
			want: []string{f + `rootfs.etc_map: "bind" is not host or chroot`}},
		{section: "rootfs", base: validRootfs, edits: []edit{{"rootfs.paths[1]", "/usr/lib/{multiarch}/t"}},
			want: []string{f + `rootfs.paths[1]: unknown placeholder {multiarch}`}},
		{section: "rootfs", base: validRootfs, edits: []edit{{"symlinks", []any{map[string]any{"path": "usr/bin/tt", "target": "t"}}}},
			want: []string{f + `rootfs: a rootfs recipe ships only what the wrapper tool makes`}},
		{section: "rootfs", base: validRootfs, static: map[string]string{"usr/share/t/t.conf": "x"},
			want: []string{f + `rootfs: a rootfs recipe ships only what the wrapper tool makes`}},
		// static modes
		{section: "static_modes", base: validBin, edits: []edit{{"static_modes", map[string]any{"usr/share/t/t.conf": "600!"}}},
			want: []string{f + `static_modes.usr/share/t/t.conf: mode "600!" is not an octal permission like 0755`}},
		{section: "static_modes", base: validBin, static: map[string]string{"usr/share/t/t.conf": ""},
			want: []string{f + `static_modes.usr/share/t/t.conf: recipe has no static files`}},
		{section: "static_modes", base: validBin, edits: []edit{{"static_modes", map[string]any{"usr/share/t/t.cfg": "0600"}}},
			want: []string{f + `static_modes.usr/share/t/t.cfg: no such static file`}},
		// generated
		{section: "generated", base: validBin, edits: []edit{{"generated[0].path", "etc/systemd/system/t.service"}},
			want: []string{f + `generated[0].path: "etc/systemd/system/t.service" is outside usr/ and opt/`}},
		{section: "generated", base: validBin, edits: []edit{{"generated[0].content", "ExecStart=/usr/bin/t {flavor}\n"}},
			want: []string{f + `generated[0].content: unknown placeholder {flavor}`}},
		{section: "generated", base: validBin, edits: []edit{{"generated[0].mode", "99999"}},
			want: []string{f + `generated[0].mode: mode "99999" is not an octal permission like 0755`}},
		{section: "generated", base: validBin, edits: []edit{{"generated[0].when.version_below", "soon"}},
			want: []string{f + `generated[0].when: "soon" is not a version`}},
		// symlinks
		{section: "symlinks", base: validBin, edits: []edit{{"symlinks[0].path", "usr/sbin"}},
			want: []string{f + `symlinks[0].path: "usr/sbin" is under usr/sbin, which would hide the host's /usr/sbin`}},
		{section: "symlinks", base: validBin, edits: []edit{{"symlinks[0].target", del}},
			want: []string{f + `symlinks[0].target: missing`}},
		{section: "symlinks", base: validBin, edits: []edit{{"symlinks[0].if_exists", true}},
			want: []string{f + `symlinks[0]: require and if_exists exclude each other`}},
		// removals
		{section: "remove", base: validBin, edits: []edit{{"remove[0].paths[1]", ".."}},
			want: []string{f + `remove[0].paths[1]: ".." must be a clean relative path`}},
		{section: "remove", base: validBin, edits: []edit{{"remove[0].paths[2]", ""}},
			want: []string{f + `remove[0].paths[2]: "" must be a clean relative path`}},
		{section: "remove", base: validBin, edits: []edit{{"remove[0].when.equals", "huge"}, {"remove[0].when.option", del}},
			want: []string{f + `remove[0].when.equals: needs option`}},
		// static files
		{section: "static files", base: validBin, static: map[string]string{"usr/sbin/t": "#!/bin/sh\n"},
			want: []string{`recipefiles/t/usr/sbin: usr/sbin would hide the host's /usr/sbin; use usr/bin`,
				`recipefiles/t/usr/sbin/t: usr/sbin would hide the host's /usr/sbin; use usr/bin`}},
	} {
		var edits []string
		for _, e := range c.edits {
			if e.v == del {
				edits = append(edits, "no "+e.path)
			} else {
				edits = append(edits, fmt.Sprintf("%s=%v", e.path, e.v))
			}
		}
		for p, body := range c.static {
			if body == "" {
				edits = append(edits, "no recipefiles/t/"+p)
			} else {
				edits = append(edits, "recipefiles/t/"+p)
			}
		}
		t.Run(c.section+": "+strings.Join(edits, ", "), func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(c.base), &doc); err != nil {
				t.Fatal(err)
			}
			for _, e := range c.edits {
				setField(t, doc, e.path, e.v)
			}
			static := fstest.MapFS{}
			for p, file := range staticOf[c.base] {
				static[p] = file
			}
			for p, body := range c.static {
				if body == "" {
					delete(static, "recipefiles/t/"+p)
				} else {
					static["recipefiles/t/"+p] = &fstest.MapFile{Data: []byte(body)}
				}
			}
			err := validateDoc(t, doc, static)
			want := fmt.Sprintf("invalid recipes (%d problems):\n  %s", len(c.want), strings.Join(c.want, "\n  "))
			if err == nil || err.Error() != want {
				t.Errorf("refusal:\n%v\nwant:\n%s", err, want)
			}
		})
	}
}
