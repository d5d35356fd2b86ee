package recipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/progress"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
)

// CreateOptions configure Create (`bake-os sysext create`).
type CreateOptions struct {
	// Recipe is a recipe name or alias; Version is spelled as
	// `sysext list RECIPE` prints it.
	Recipe, Version string
	// Arch defaults to x86-64.
	Arch flatcar.Arch
	// Name is the extension name (default: the recipe name as given).
	// Output is the image path (default NAME-VERSION-ARCH.raw in the
	// current directory).
	Name, Output string
	// OutputDir holds the default output (default: current directory).
	OutputDir string
	// Sysupdate also writes NAME.conf (and NAME-vX.Y.conf for recipes that
	// pin a Kubernetes minor).
	Sysupdate bool
	// Without drops parts of recipes that have a "without" option (docker:
	// docker or containerd).
	Without []string
	// Options are other recipe options (--key value), e.g. "cni-version".
	Options map[string]string
	// URLRewrites rewrite every URL prefix (mirrors).
	URLRewrites []Rewrite
	// HTTPClient defaults to httpget's client (connect, TLS and header timeouts).
	HTTPClient *http.Client
	// Epoch is every timestamp in the image (resolved by the caller).
	Epoch int64
	// Format is the image format (default squashfs).
	Format sysextbuild.Format
	// Reporter receives download progress; nil reports nothing.
	Reporter progress.Reporter
	// Getenv reads recipe environment switches (ONLY_DOCKER=1 ...) and
	// GH_TOKEN; nil means os.Getenv.
	Getenv func(string) string
	// Engines are the container engines tried for container builds, in
	// order (default docker, podman).
	Engines []string
}

// Create builds the recipe's extension image: download, verify, extract,
// add static files, and pack.
func Create(ctx context.Context, o CreateOptions) (*sysextbuild.PackResult, error) {
	return create(ctx, o, sysextbuild.Pack)
}

// Builder adapts Create to the release builder: it builds recipe at
// version for arch into outDir (as RECIPE-VERSION-ARCH.raw) with o's other
// settings and returns the image path.
func Builder(o CreateOptions) func(ctx context.Context, recipe, version string, arch flatcar.Arch, outDir string) (string, error) {
	return func(ctx context.Context, recipe, version string, arch flatcar.Arch, outDir string) (string, error) {
		c := o
		c.Recipe, c.Version, c.Arch = recipe, version, arch
		c.Name = ""
		c.Output = filepath.Join(outDir, sysextbuild.DefaultOutput(recipe, version, arch))
		res, err := Create(ctx, c)
		if err != nil {
			return "", err
		}
		return res.Output, nil
	}
}

type packFunc func(context.Context, sysextbuild.PackOptions) (*sysextbuild.PackResult, error)

func create(ctx context.Context, o CreateOptions, pack packFunc) (*sysextbuild.PackResult, error) {
	r, err := Lookup(o.Recipe)
	if err != nil {
		return nil, err
	}
	if o.Version == "" {
		return nil, fmt.Errorf("recipe %s needs a version: see `bake-os sysext list %s`", o.Recipe, o.Recipe)
	}
	if strings.ContainsAny(o.Version, "/ \t\n") {
		return nil, fmt.Errorf("invalid version %q for recipe %s", o.Version, o.Recipe)
	}
	if o.Arch == "" {
		o.Arch = flatcar.ArchX86_64
	}
	if _, ok := r.Arch[o.Arch]; !ok {
		return nil, fmt.Errorf("recipe %s does not support architecture %q: use x86-64 or arm64", r.Name, o.Arch)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Name == "" {
		o.Name = o.Recipe
	}
	if o.Output == "" {
		o.Output = filepath.Join(o.OutputDir, sysextbuild.DefaultOutput(o.Name, o.Version, o.Arch))
	}
	if o.Output, err = filepath.Abs(o.Output); err != nil {
		return nil, fmt.Errorf("resolving output path: %w", err)
	}
	f := &fetcher{http: o.HTTPClient, rewrites: o.URLRewrites, token: o.Getenv("GH_TOKEN"), reporter: o.Reporter}
	b := &builder{r: r, o: o, f: f}
	if err := b.resolveOptions(ctx); err != nil {
		return nil, err
	}
	// The work dir (downloads, tree) lives beside the output: /tmp may be
	// a small tmpfs and artefacts reach GBs (ollama).
	work, err := atomicfile.MkdirTemp(filepath.Dir(o.Output), o.Name+".recipe")
	if err != nil {
		return nil, fmt.Errorf("creating work dir: %w", err)
	}
	defer atomicfile.Remove(work)
	b.work = work
	b.root = filepath.Join(work, "root")
	packOpts := sysextbuild.PackOptions{
		Name: o.Name, Arch: o.Arch, Format: o.Format, Reload: r.Reload,
		Epoch: o.Epoch, Output: o.Output, Sysupdate: o.Sysupdate,
		Warn: func(msg string) { runlog.From(ctx).Warn(msg, "recipe", r.Name) },
	}
	if r.Rootfs != nil {
		res, err := b.rootfsBuild(ctx, packOpts)
		if err != nil {
			return nil, fmt.Errorf("building %s %s for %s: %w", r.Name, o.Version, o.Arch, err)
		}
		return res, nil
	}
	if err := b.populate(ctx); err != nil {
		return nil, fmt.Errorf("building %s %s for %s: %w", r.Name, o.Version, o.Arch, err)
	}
	packOpts.Dir = b.root
	res, err := pack(ctx, packOpts)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", o.Name, err)
	}
	if o.Sysupdate && r.SysupdateMinor {
		if err := sysextbuild.WriteMinorConf(o.Name, o.Version, filepath.Dir(res.Output)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// builder holds the state of one recipe build.
type builder struct {
	r    Recipe
	o    CreateOptions
	f    *fetcher
	work string
	root string
	opts map[string][]string
	vars map[string]string
}

// resolveOptions merges Without, Options, environment switches and
// defaults, and checks them against the recipe.
func (b *builder) resolveOptions(ctx context.Context) error {
	given := map[string][]string{}
	for k, v := range b.o.Options {
		given[k] = strings.Split(v, ",")
	}
	if len(b.o.Without) > 0 {
		given["without"] = append(given["without"], b.o.Without...)
	}
	b.opts = map[string][]string{}
	for _, opt := range b.r.Options {
		vals := given[opt.Name]
		delete(given, opt.Name)
		var fromEnv []string
		envs := make([]string, 0, len(opt.Env))
		for env := range opt.Env {
			envs = append(envs, env)
		}
		sort.Strings(envs)
		for _, env := range envs {
			if b.o.Getenv(env) == "1" {
				fromEnv = append(fromEnv, env)
				vals = append(vals, opt.Env[env])
			}
		}
		if len(fromEnv) > 1 {
			return fmt.Errorf("recipe %s: %s are mutually exclusive: set only one", b.r.Name, strings.Join(fromEnv, " and "))
		}
		if len(vals) == 0 && opt.Default != "" {
			vals = []string{opt.Default}
		}
		if len(vals) > 1 && !opt.Multi {
			return fmt.Errorf("recipe %s: option --%s given more than once", b.r.Name, opt.Name)
		}
		vals = dedupe(vals)
		for _, v := range vals {
			if len(opt.Values) > 0 && !contains(opt.Values, v) {
				return fmt.Errorf("recipe %s: --%s %q is not one of %s", b.r.Name, opt.Name, v, strings.Join(opt.Values, ", "))
			}
		}
		if len(opt.Values) > 0 && opt.Multi && len(vals) == len(opt.Values) {
			return fmt.Errorf("recipe %s: --%s %s leaves nothing to build", b.r.Name, opt.Name, strings.Join(vals, ","))
		}
		if opt.Required && len(vals) == 0 {
			return fmt.Errorf("recipe %s needs --%s: %s", b.r.Name, opt.Name, opt.Help)
		}
		if opt.Latest != nil && len(vals) == 1 && vals[0] == "latest" {
			v, err := latestVersion(ctx, b.f, *opt.Latest)
			if err != nil {
				return fmt.Errorf("resolving --%s latest: %w", opt.Name, err)
			}
			vals = []string{v}
		}
		b.opts[opt.Name] = vals
	}
	if len(given) > 0 {
		var names []string
		for k := range given {
			names = append(names, "--"+k)
		}
		sort.Strings(names)
		var known []string
		for _, opt := range b.r.Options {
			known = append(known, "--"+opt.Name)
		}
		if len(known) == 0 {
			known = []string{"none"}
		}
		return fmt.Errorf("recipe %s has no option %s (options: %s)", b.r.Name, strings.Join(names, ", "), strings.Join(known, ", "))
	}
	return nil
}

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		if v = strings.TrimSpace(v); v != "" && !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func (b *builder) holds(c *Condition) bool {
	if c == nil {
		return true
	}
	v := strings.TrimPrefix(b.o.Version, "v")
	if c.VersionMin != "" && compareVersions(v, strings.TrimPrefix(c.VersionMin, "v")) < 0 {
		return false
	}
	if c.VersionBelow != "" && compareVersions(v, strings.TrimPrefix(c.VersionBelow, "v")) >= 0 {
		return false
	}
	if c.Option != "" {
		vals := b.opts[c.Option]
		if c.Equals == "" && len(vals) == 0 || c.Equals != "" && !contains(vals, c.Equals) {
			return false
		}
	}
	if c.Unset != "" && len(b.opts[c.Unset]) > 0 {
		return false
	}
	return true
}

var placeholderRe = regexp.MustCompile(`\{([a-z0-9_-]+)\}`)

func (b *builder) expand(s string) string {
	return placeholderRe.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := b.vars[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func (b *builder) resolveVars(ctx context.Context) error {
	v := strings.TrimPrefix(b.o.Version, "v")
	b.vars = map[string]string{
		"name": b.o.Name, "version": b.o.Version, "v": v, "vv": "v" + v,
		"arch": b.r.Arch[b.o.Arch], "goarch": b.o.Arch.GoArch(), "uname": b.o.Arch.UnameMachine(),
		"root": b.root,
	}
	for k, vals := range b.opts {
		b.vars[k] = strings.Join(vals, ",")
	}
	for _, vr := range b.r.Vars {
		if !b.holds(vr.When) {
			continue
		}
		switch {
		case vr.Value != nil:
			b.vars[vr.Name] = b.expand(*vr.Value)
		case vr.PerArch != nil:
			b.vars[vr.Name] = vr.PerArch[b.o.Arch]
		case vr.Fetch != "":
			u := b.expand(vr.Fetch)
			data, _, err := b.f.getSmall(ctx, u)
			if err != nil {
				return fmt.Errorf("resolving %s: %w", vr.Name, err)
			}
			val := strings.TrimSpace(string(data))
			if val == "" || strings.ContainsAny(val, "/ \n\t") {
				return fmt.Errorf("resolving %s: %s holds %q, not a version", vr.Name, u, val)
			}
			b.vars[vr.Name] = val
		}
	}
	return nil
}

// populate fills b.root.
func (b *builder) populate(ctx context.Context) error {
	if err := os.MkdirAll(b.root, 0o755); err != nil {
		return fmt.Errorf("creating tree: %w", err)
	}
	if err := b.resolveVars(ctx); err != nil {
		return err
	}
	if err := b.copyStatic(); err != nil {
		return err
	}
	dl := filepath.Join(b.work, "dl")
	for i, d := range b.r.Downloads {
		if !b.holds(d.When) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(dl, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating download dir: %w", err)
		}
		if err := b.fetchOne(ctx, d, dir); err != nil {
			return err
		}
	}
	if b.r.Build != nil {
		if err := b.containerBuild(ctx); err != nil {
			return err
		}
	}
	for _, g := range b.r.Generated {
		if !b.holds(g.When) {
			continue
		}
		mode := fs.FileMode(0o644)
		if g.Mode != "" {
			mode, _ = parseMode(g.Mode)
		}
		if err := writeTreeFile(b.root, g.Path, strings.NewReader(b.expand(g.Content)), mode); err != nil {
			return fmt.Errorf("writing %s: %w", g.Path, err)
		}
	}
	for _, s := range b.r.Symlinks {
		if err := b.symlink(s); err != nil {
			return err
		}
	}
	root, err := rootfs.Open(b.root)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, rm := range b.r.Remove {
		if !b.holds(rm.When) {
			continue
		}
		for _, p := range rm.Paths {
			// Never remove through a symlink the upstream artefact
			// planted: only what is really at p in the tree goes.
			if err := treeRealParent(root, p); errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
			if err := root.RemoveAll(p); err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
		}
	}
	return pruneEmptyDirs(root)
}

func (b *builder) fetchOne(ctx context.Context, d Download, dir string) error {
	u := b.expand(d.URL)
	file, sum, err := b.f.download(ctx, u, dir)
	if err != nil {
		return err
	}
	if d.Checksum != nil {
		if err := b.f.verify(ctx, d.Checksum, b.expand(d.Checksum.URL), filepath.Base(file), sum); err != nil {
			return err
		}
	}
	if d.Format == "raw" {
		mode := fs.FileMode(0o755)
		if d.Mode != "" {
			mode, _ = parseMode(d.Mode)
		}
		in, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("opening %s: %w", file, err)
		}
		defer in.Close()
		if err := writeTreeFile(b.root, b.expand(d.Dest), in, mode); err != nil {
			return fmt.Errorf("installing %s: %w", d.Dest, err)
		}
		return nil
	}
	if len(d.Members) > 0 {
		ms := make([]Member, len(d.Members))
		for i, m := range d.Members {
			m.Src, m.Dest = b.expand(m.Src), b.expand(m.Dest)
			ms[i] = m
		}
		d.Members = ms
		if err := extractMembers(file, d, b.root); err != nil {
			return err
		}
	}
	if d.Install != nil {
		return b.runInstall(ctx, file, d)
	}
	return nil
}

// runInstall unpacks the archive and runs its install script with bash.
func (b *builder) runInstall(ctx context.Context, file string, d Download) error {
	dir := filepath.Join(filepath.Dir(file), "unpacked")
	if err := extractAll(file, d.Format, dir); err != nil {
		return err
	}
	sdir := filepath.Join(dir, filepath.FromSlash(d.Install.Dir))
	script := filepath.Join(sdir, d.Install.Script)
	data, err := os.ReadFile(script)
	if err != nil {
		return fmt.Errorf("reading install script: %w", err)
	}
	if d.Install.DropLines != "" {
		re := regexp.MustCompile(d.Install.DropLines)
		lines := strings.Split(string(data), "\n")
		kept := lines[:0]
		for _, l := range lines {
			if !re.MatchString(l) {
				kept = append(kept, l)
			}
		}
		data = []byte(strings.Join(kept, "\n"))
	}
	if err := os.WriteFile(script, data, 0o755); err != nil {
		return fmt.Errorf("writing install script: %w", err)
	}
	cmd := child.Command(ctx, "bash", d.Install.Script)
	runlog.Tool(runlog.From(ctx), cmd)
	cmd.Dir = sdir
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(d.Install.Env))
	for k := range d.Install.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+b.expand(d.Install.Env[k]))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("running upstream %s/%s: %w\n%s", d.Install.Dir, d.Install.Script, err, tail(out))
	}
	if _, err := os.Lstat(filepath.Join(b.root, "usr", "sbin")); err == nil {
		return errors.New("upstream install script created usr/sbin, which would hide the host's /usr/sbin")
	}
	return nil
}

func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

func (b *builder) symlink(s Symlink) error {
	root, err := rootfs.Open(b.root)
	if err != nil {
		return err
	}
	defer root.Close()
	if s.Require || s.IfExists {
		t := s.Target
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(s.Path), t)
		}
		res, err := rootfs.Resolve(root, strings.TrimPrefix(t, "/"), true)
		if err == nil {
			_, err = root.Lstat(rootfs.Name(res))
		}
		if err != nil {
			if s.IfExists {
				return nil
			}
			return fmt.Errorf("linking %s: target %s is missing from the upstream artefact", s.Path, s.Target)
		}
	}
	if err := rootfs.Symlink(root, s.Target, s.Path); err != nil {
		return fmt.Errorf("linking %s: %w", s.Path, err)
	}
	return nil
}

// copyStatic copies the recipe's embedded usr/ and opt/ trees.
func (b *builder) copyStatic() error {
	if b.r.static == nil {
		return nil
	}
	return fs.WalkDir(b.r.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		top := strings.SplitN(p, "/", 2)[0]
		if p == "." {
			return nil
		}
		if top != "usr" && top != "opt" {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return writeTreeDir(b.root, p)
		}
		mode := fs.FileMode(0o644)
		if m, ok := b.r.StaticModes[p]; ok {
			mode, _ = parseMode(m)
		}
		in, err := b.r.static.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		if err := writeTreeFile(b.root, p, in, mode); err != nil {
			return fmt.Errorf("copying static %s: %w", p, err)
		}
		return nil
	})
}

// writeTreeFile writes r to root/p (replacing it) with mode, never
// through a symlink.
func writeTreeFile(dir, p string, r io.Reader, mode fs.FileMode) error {
	root, err := rootfs.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return writeFile(root, p, r, mode, nil)
}

// writeTreeDir creates root/p, never through a symlink.
func writeTreeDir(dir, p string) error {
	root, err := rootfs.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return rootfs.MkdirAll(root, p)
}

// pruneEmptyDirs removes directories left empty by removals (docker
// --without), bottom up, keeping the root.
func pruneEmptyDirs(root *os.Root) error {
	var dirs []string
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walking tree: %w", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = root.Remove(dirs[i]) // fails (and is kept) unless empty
	}
	return nil
}
