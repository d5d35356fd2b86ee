package recipe

// Validation of decoded recipes, one method per section of the schema.

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
)

// problems collects validation errors with their field paths.
type problems []string

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, field+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid recipes (%d problems):\n  %s", len(p), strings.Join(p, "\n  "))
}

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	templateRe = regexp.MustCompile(`\{([a-z0-9_-]+)\}`)
	formats    = []string{"raw", "tar", "tar.gz", "tar.xz", "tar.zst", "zip"}
	versionKs  = []string{"github-releases", "github-tags", "gitlab-tags", "html-index", "hashicorp", "haproxy", "k8s-schedule", "none"}
	builtins   = []string{"name", "version", "v", "vv", "arch", "goarch", "uname", "root"}
)

// validate reports every problem of the recipe decoded from file, one
// section after another in the order of the schema.
func (r *Recipe) validate(file string, p *problems) {
	c := &checker{r: r, file: file, p: p, known: append([]string(nil), builtins...), opts: map[string]bool{}}
	c.header()
	c.options()
	c.vars()
	for i, d := range r.Downloads {
		c.download(c.at(fmt.Sprintf("downloads[%d]", i)), d)
	}
	c.build()
	c.rootfs()
	c.staticModes()
	c.generated()
	c.symlinks()
	c.removals()
	c.staticFiles()
}

// checker validates one recipe: the sections add to known (the
// placeholders templates may use) and opts (the option names conditions
// may test) as they declare them.
type checker struct {
	r     *Recipe
	file  string
	p     *problems
	known []string
	opts  map[string]bool
}

// at is the field path of field in the recipe's file.
func (c *checker) at(field string) string { return c.file + ": " + field }

// header checks name, aliases, description, kind, arch and versions.
func (c *checker) header() {
	r, p := c.r, c.p
	if !nameRe.MatchString(r.Name) {
		p.add(c.at("name"), "%q is not a valid recipe name", r.Name)
	}
	for i, a := range r.Aliases {
		if !nameRe.MatchString(a) {
			p.add(c.at(fmt.Sprintf("aliases[%d]", i)), "%q is not a valid name", a)
		}
	}
	if r.Description == "" {
		p.add(c.at("description"), "missing")
	}
	switch r.Kind {
	case KindBinary:
		if len(r.Downloads) == 0 {
			p.add(c.at("downloads"), "a bin recipe needs at least one download")
		}
	case KindContainer:
		if (r.Build == nil) == (r.Rootfs == nil) {
			p.add(c.at("build"), "a ctr recipe needs exactly one of build and rootfs")
		}
	default:
		p.add(c.at("kind"), "%q is not bin or ctr", r.Kind)
	}
	for _, a := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		if _, ok := r.Arch[a]; !ok {
			p.add(c.at("arch"), "missing the upstream spelling for %s", a)
		}
	}
	for a := range r.Arch {
		if a != flatcar.ArchX86_64 && a != flatcar.ArchARM64 {
			p.add(c.at("arch"), "%q is not x86-64 or arm64", a)
		}
	}
	validateSource(c.at("versions"), r.Versions, p)
}

// options checks the options and declares their names.
func (c *checker) options() {
	p := c.p
	for i, o := range c.r.Options {
		f := c.at(fmt.Sprintf("options[%d]", i))
		if !nameRe.MatchString(o.Name) {
			p.add(f+".name", "%q is not a valid option name", o.Name)
		}
		if o.Help == "" {
			p.add(f+".help", "missing")
		}
		if o.Latest != nil {
			validateSource(f+".latest", *o.Latest, p)
		}
		for env, v := range o.Env {
			if len(o.Values) > 0 && !contains(o.Values, v) {
				p.add(f+".env."+env, "value %q is not one of %v", v, o.Values)
			}
		}
		c.opts[o.Name] = true
		c.known = append(c.known, o.Name)
	}
}

// cond checks a when-condition at f against the declared options.
func (c *checker) cond(f string, cd *Condition) {
	if cd == nil {
		return
	}
	p := c.p
	for _, v := range []string{cd.VersionMin, cd.VersionBelow} {
		if v != "" && !versionRe.MatchString(strings.TrimPrefix(v, "v")) {
			p.add(f, "%q is not a version", v)
		}
	}
	if cd.Option != "" && !c.opts[cd.Option] {
		p.add(f+".option", "unknown option %q", cd.Option)
	}
	if cd.Unset != "" && !c.opts[cd.Unset] {
		p.add(f+".unset", "unknown option %q", cd.Unset)
	}
	if cd.Equals != "" && cd.Option == "" {
		p.add(f+".equals", "needs option")
	}
}

// tmpl checks that the template s at f uses only known placeholders.
func (c *checker) tmpl(f, s string) {
	for _, m := range templateRe.FindAllStringSubmatch(s, -1) {
		if !contains(c.known, m[1]) {
			c.p.add(f, "unknown placeholder {%s}", m[1])
		}
	}
}

// vars checks the variables in order, each declared for the later ones.
func (c *checker) vars() {
	p := c.p
	for i, v := range c.r.Vars {
		f := c.at(fmt.Sprintf("vars[%d]", i))
		if !nameRe.MatchString(v.Name) {
			p.add(f+".name", "%q is not a valid variable name", v.Name)
		}
		n := 0
		if v.Value != nil {
			n++
			c.tmpl(f+".value", *v.Value)
		}
		if v.PerArch != nil {
			n++
			if len(v.PerArch) != 2 {
				p.add(f+".per_arch", "needs x86-64 and arm64")
			}
		}
		if v.Fetch != "" {
			n++
			c.tmpl(f+".fetch", v.Fetch)
		}
		if n != 1 {
			p.add(f, "needs exactly one of value, per_arch, fetch")
		}
		c.cond(f+".when", v.When)
		c.known = append(c.known, v.Name)
	}
}

// download checks the download d at f: URL, format, checksum, where a raw
// file or an archive's members go, the install script.
func (c *checker) download(f string, d Download) {
	p := c.p
	c.tmpl(f+".url", d.URL)
	if !strings.HasPrefix(d.URL, "https://") && !strings.HasPrefix(d.URL, "http://") {
		p.add(f+".url", "%q is not an http(s) URL", d.URL)
	}
	if !contains(formats, d.Format) {
		p.add(f+".format", "%q is not one of %v", d.Format, formats)
	}
	if d.Checksum != nil {
		c.tmpl(f+".checksum.url", d.Checksum.URL)
		if d.Checksum.Kind != "file" && d.Checksum.Kind != "github-digest" {
			p.add(f+".checksum.kind", "%q is not file or github-digest", d.Checksum.Kind)
		}
	}
	checkMode(f+".mode", d.Mode, p)
	if d.Format == "raw" {
		checkTreePath(f+".dest", d.Dest, p)
		c.tmpl(f+".dest", d.Dest)
		if len(d.Members) > 0 || d.Install != nil || d.Strip != 0 {
			p.add(f, "a raw download has no members, install or strip")
		}
	} else {
		if d.Dest != "" {
			checkTreePath(f+".dest", d.Dest, p)
		}
		if d.Dest != "" || d.Mode != "" {
			p.add(f, "an archive download maps members instead of dest/mode")
		}
		if len(d.Members) == 0 && d.Install == nil {
			p.add(f+".members", "an archive download needs members or install")
		}
	}
	for j, m := range d.Members {
		mf := fmt.Sprintf("%s.members[%d]", f, j)
		checkTreePath(mf+".dest", strings.TrimSuffix(m.Dest, "/"), p)
		c.tmpl(mf+".src", m.Src)
		c.tmpl(mf+".dest", m.Dest)
		checkMode(mf+".mode", m.Mode, p)
		if _, err := path.Match(strings.TrimPrefix(m.Src, "**/"), "x"); err != nil {
			p.add(mf+".src", "bad pattern %q: %v", m.Src, err)
		}
	}
	if d.Install != nil {
		if d.Install.Script == "" {
			p.add(f+".install.script", "missing")
		}
		if _, err := regexp.Compile(d.Install.DropLines); err != nil {
			p.add(f+".install.drop_lines", "%v", err)
		}
		for k, v := range d.Install.Env {
			c.tmpl(f+".install.env."+k, v)
		}
	}
	c.cond(f+".when", d.When)
}

// build checks a container build: its script among the static files,
// image and platforms, arguments and moves.
func (c *checker) build() {
	r, p, b := c.r, c.p, c.r.Build
	if b == nil {
		return
	}
	f := c.at("build")
	if r.Kind != KindContainer {
		p.add(f, "only ctr recipes build")
	}
	if b.Script == "" {
		p.add(f+".script", "missing")
	} else if r.static == nil {
		p.add(f+".script", "recipefiles/%s/ is missing", r.Name)
	} else if _, err := fs.Stat(r.static, b.Script); err != nil {
		p.add(f+".script", "recipefiles/%s/%s is missing", r.Name, b.Script)
	}
	if !b.Host && (b.Image == "" || len(b.Platform) != 2) {
		p.add(f, "a container build needs image and platform for both arches")
	}
	for i, a := range b.Args {
		c.tmpl(fmt.Sprintf("%s.args[%d]", f, i), a)
	}
	for i, m := range b.Moves {
		checkRelPath(fmt.Sprintf("%s.moves[%d].src", f, i), m.Src, p)
		checkTreePath(fmt.Sprintf("%s.moves[%d].dest", f, i), m.Dest, p)
	}
}

// rootfs checks a root filesystem build (flix or flatwrap of an image),
// which ships nothing else.
func (c *checker) rootfs() {
	r, p, rf := c.r, c.p, c.r.Rootfs
	if rf == nil {
		return
	}
	f := c.at("rootfs")
	if r.Kind != KindContainer {
		p.add(f, "only ctr recipes build a rootfs")
	}
	if rf.Image == "" || rf.Cmd == "" || len(rf.Paths) == 0 {
		p.add(f, "needs image, cmd and paths")
	}
	if rf.Tool != "flatwrap" && rf.Tool != "flix" {
		p.add(f+".tool", "%q is not flatwrap or flix", rf.Tool)
	}
	if rf.EtcMap != "" && rf.EtcMap != "host" && rf.EtcMap != "chroot" {
		p.add(f+".etc_map", "%q is not host or chroot", rf.EtcMap)
	}
	for i, q := range rf.Paths {
		c.tmpl(fmt.Sprintf("%s.paths[%d]", f, i), q)
	}
	if len(r.Downloads) > 0 || len(r.Generated) > 0 || len(r.Symlinks) > 0 || len(r.Remove) > 0 || r.static != nil {
		p.add(f, "a rootfs recipe ships only what the wrapper tool makes")
	}
}

// staticModes checks that each static_modes entry is a mode for a static
// file the recipe has.
func (c *checker) staticModes() {
	r, p := c.r, c.p
	for k, m := range r.StaticModes {
		checkMode(c.at("static_modes."+k), m, p)
		if r.static == nil {
			p.add(c.at("static_modes."+k), "recipe has no static files")
		} else if _, err := fs.Stat(r.static, k); err != nil {
			p.add(c.at("static_modes."+k), "no such static file")
		}
	}
}

// generated checks the generated files.
func (c *checker) generated() {
	for i, g := range c.r.Generated {
		f := c.at(fmt.Sprintf("generated[%d]", i))
		checkTreePath(f+".path", g.Path, c.p)
		c.tmpl(f+".content", g.Content)
		checkMode(f+".mode", g.Mode, c.p)
		c.cond(f+".when", g.When)
	}
}

// symlinks checks the symlinks.
func (c *checker) symlinks() {
	p := c.p
	for i, s := range c.r.Symlinks {
		f := c.at(fmt.Sprintf("symlinks[%d]", i))
		checkTreePath(f+".path", s.Path, p)
		if s.Target == "" {
			p.add(f+".target", "missing")
		}
		if s.Require && s.IfExists {
			p.add(f, "require and if_exists exclude each other")
		}
	}
}

// removals checks the remove entries.
func (c *checker) removals() {
	for i, rm := range c.r.Remove {
		f := c.at(fmt.Sprintf("remove[%d]", i))
		for j, q := range rm.Paths {
			checkRelPath(fmt.Sprintf("%s.paths[%d]", f, j), q, c.p)
		}
		c.cond(f+".when", rm.When)
	}
}

// staticFiles refuses static files under usr/sbin.
func (c *checker) staticFiles() {
	r, p := c.r, c.p
	if r.static == nil {
		return
	}
	_ = fs.WalkDir(r.static, ".", func(q string, d fs.DirEntry, err error) error {
		if err != nil || q == "." {
			return err
		}
		top := strings.SplitN(q, "/", 2)[0]
		if top == "usr" && strings.HasPrefix(q, "usr/sbin") {
			p.add("recipefiles/"+r.Name+"/"+q, "usr/sbin would hide the host's /usr/sbin; use usr/bin")
		}
		return nil
	})
}

func validateSource(f string, s VersionSource, p *problems) {
	if !contains(versionKs, s.Kind) {
		p.add(f+".kind", "%q is not one of %v", s.Kind, versionKs)
		return
	}
	switch s.Kind {
	case "github-releases", "github-tags":
		if strings.Count(s.Repo, "/") != 1 {
			p.add(f+".repo", "%q is not owner/name", s.Repo)
		}
	case "gitlab-tags", "hashicorp", "haproxy":
		if s.URL == "" {
			p.add(f+".url", "missing")
		}
	case "html-index":
		if s.URL == "" || s.Pattern == "" {
			p.add(f, "html-index needs url and pattern")
		}
	}
	if s.Min != "" && !versionRe.MatchString(strings.TrimPrefix(s.Min, "v")) {
		p.add(f+".min", "%q is not a version", s.Min)
	}
	for k, re := range map[string]string{"pattern": s.Pattern, "include": s.Include, "exclude": s.Exclude} {
		if _, err := regexp.Compile(re); err != nil {
			p.add(f+"."+k, "%v", err)
		}
	}
	if s.Pattern != "" {
		if re, err := regexp.Compile(s.Pattern); err == nil && re.NumSubexp() < 1 {
			p.add(f+".pattern", "needs a group capturing the version")
		}
	}
	switch {
	case s.Latest == "", s.Latest == "first", s.Latest == "k8s-minors":
	case strings.HasPrefix(s.Latest, "per-minor:"):
		if n, err := strconv.Atoi(strings.TrimPrefix(s.Latest, "per-minor:")); err != nil || n < 1 {
			p.add(f+".latest", "%q: per-minor needs a positive count", s.Latest)
		}
	default:
		p.add(f+".latest", "%q is not first, per-minor:N or k8s-minors", s.Latest)
	}
}

// checkTreePath requires a clean relative path under usr/ or opt/.
func checkTreePath(f, q string, p *problems) {
	if q == "" {
		p.add(f, "missing")
		return
	}
	if path.IsAbs(q) || path.Clean(q) != q || strings.HasPrefix(q, "../") {
		p.add(f, "%q must be a clean relative path", q)
		return
	}
	if !strings.HasPrefix(q+"/", "usr/") && !strings.HasPrefix(q+"/", "opt/") {
		p.add(f, "%q is outside usr/ and opt/", q)
	}
	if q == "usr/sbin" || strings.HasPrefix(q, "usr/sbin/") {
		p.add(f, "%q is under usr/sbin, which would hide the host's /usr/sbin", q)
	}
}

// checkRelPath requires a clean relative path (moves and removals may name
// usr/sbin to get rid of it).
func checkRelPath(f, q string, p *problems) {
	if q == "" || path.IsAbs(q) || path.Clean(q) != q || q == ".." || strings.HasPrefix(q, "../") {
		p.add(f, "%q must be a clean relative path", q)
	}
}

func checkMode(f, m string, p *problems) {
	if m == "" {
		return
	}
	if _, err := parseMode(m); err != nil {
		p.add(f, "%v", err)
	}
}
