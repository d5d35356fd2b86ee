package sysextbuild

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/httpget"
	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/sysext"
)

// Builder builds one extension image for recipe at version and arch into
// outDir (a private temporary directory) and returns the path of the
// image it wrote there. Release renames it to RECIPE-VERSION-ARCH.raw.
type Builder func(ctx context.Context, recipe, version string, arch flatcar.Arch, outDir string) (path string, err error)

// ReleaseOptions configure a release build.
type ReleaseOptions struct {
	Versions  string // release_build_versions.txt
	OutputDir string // created if missing; images and index files go here
	Build     Builder
	// Latest resolves the version "latest" of a recipe to the versions a
	// release builds (the newest, or one per minor line for some recipes);
	// needed only when the versions file uses it. See recipe.Latest.
	Latest func(ctx context.Context, recipe string) ([]string, error)
	Arches []flatcar.Arch // default x86-64 and arm64
	Jobs   int            // builds in parallel; default 2
	// PublishedSums is the URL of an already published SHA256SUMS: images
	// listed there are not rebuilt (a 404 means nothing is published).
	PublishedSums string
	HTTPClient    *http.Client // default httpget's client
	// BakeryURL and BakeryRelease set the sysupdate source directory of
	// every extension: BakeryURL/BakeryRelease/ (BakeryRelease defaults to
	// the extension name; DefaultBakeryURL).
	BakeryURL     string
	BakeryRelease string
	Log           func(msg string) // optional narration
}

// ReleaseImage is one image of a release.
type ReleaseImage struct {
	Recipe, Version string
	Arch            flatcar.Arch
	File            string // base name, RECIPE-VERSION-ARCH.raw
	SHA256          string
	Status          string // "built", "existing" (in OutputDir) or "published" (in PublishedSums)
}

// ReleaseResult lists the images and the index files written.
type ReleaseResult struct {
	Images []ReleaseImage // sorted by file name
	Files  []string       // SHA256SUMS, SHA256SUMS.NAME, NAME.conf, noop.conf, Release.md
}

// VersionEntry is one line of a versions file.
type VersionEntry struct {
	Name, Version string
	Line          int
}

// ParseVersionsFile reads release_build_versions.txt in either layout:
// "NAME VERSION" (new bakery) or "NAME-VERSION" (old bakery, split before
// the first "-" that is followed by a digit, "v" and a digit, or
// "latest"). VERSION may be "latest". Blank lines and "#" comments, also
// at the end of a line, are skipped. Duplicates are dropped.
func ParseVersionsFile(r io.Reader) ([]VersionEntry, error) {
	var out []VersionEntry
	seen := map[[2]string]bool{}
	sc := bufio.NewScanner(r)
	var problems []string
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		var e VersionEntry
		switch len(f) {
		case 0:
			continue
		case 1:
			name, version, ok := splitNameVersion(f[0])
			if !ok {
				problems = append(problems, fmt.Sprintf("line %d: %q: want NAME-VERSION or NAME VERSION", n, f[0]))
				continue
			}
			e = VersionEntry{name, version, n}
		case 2:
			e = VersionEntry{f[0], f[1], n}
		default:
			problems = append(problems, fmt.Sprintf("line %d: %q: want NAME VERSION", n, strings.TrimSpace(line)))
			continue
		}
		if err := CheckName(e.Name); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		if strings.ContainsAny(e.Version, "/\\") {
			problems = append(problems, fmt.Sprintf("line %d: invalid version %q", n, e.Version))
			continue
		}
		if k := [2]string{e.Name, e.Version}; !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading versions file: %w", err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("parsing versions file: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

func splitNameVersion(s string) (name, version string, ok bool) {
	for i := 1; i < len(s)-1; i++ {
		if s[i] != '-' {
			continue
		}
		rest := s[i+1:]
		d := func(j int) bool { return len(rest) > j && rest[j] >= '0' && rest[j] <= '9' }
		if d(0) || rest[0] == 'v' && d(1) || rest == "latest" {
			return s[:i], rest, true
		}
	}
	return "", "", false
}

// Release builds every entry of the versions file for every architecture,
// Jobs at a time, skipping images already in OutputDir or listed in
// PublishedSums, then writes SHA256SUMS (all images), SHA256SUMS.NAME and
// NAME.conf per extension, noop.conf and Release.md. Failed builds do not
// stop the others; their errors are returned together and the index files
// are then not written. Images are written through temporary directories
// in OutputDir and renamed into place.
func Release(ctx context.Context, o ReleaseOptions) (*ReleaseResult, error) {
	if o.Build == nil {
		return nil, errors.New("release build without a builder")
	}
	if o.OutputDir == "" {
		return nil, errors.New("no output directory given for the release")
	}
	if len(o.Arches) == 0 {
		o.Arches = []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64}
	}
	if o.Jobs <= 0 {
		o.Jobs = 2
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	vf, err := os.Open(o.Versions)
	if err != nil {
		return nil, fmt.Errorf("opening versions file: %w", err)
	}
	entries, err := ParseVersionsFile(vf)
	vf.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Versions, err)
	}
	entries, err = resolveLatest(ctx, entries, o.Latest)
	if err != nil {
		return nil, err
	}
	published, err := fetchPublishedSums(ctx, o.HTTPClient, o.PublishedSums)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}

	var (
		mu     sync.Mutex
		images []ReleaseImage
		errs   []error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, o.Jobs)
	)
	for _, e := range entries {
		for _, arch := range o.Arches {
			img := ReleaseImage{Recipe: e.Name, Version: e.Version, Arch: arch, File: DefaultOutput(e.Name, e.Version, arch)}
			dst := filepath.Join(o.OutputDir, img.File)
			if sum, ok := published[img.File]; ok {
				logf("skipping %s: already published", img.File)
				img.SHA256, img.Status = sum, "published"
				images = append(images, img)
				continue
			}
			if _, err := os.Stat(dst); err == nil {
				logf("skipping %s: already in %s", img.File, o.OutputDir)
				sum, err := sha256sums.File(dst)
				if err != nil {
					return nil, err
				}
				img.SHA256, img.Status = sum, "existing"
				images = append(images, img)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					mu.Lock()
					errs = append(errs, fmt.Errorf("building %s: %w", img.File, ctx.Err()))
					mu.Unlock()
					return
				}
				defer func() { <-sem }()
				logf("building %s", img.File)
				sum, err := releaseBuildOne(ctx, o, img, dst)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("building %s: %w", img.File, err))
					return
				}
				img.SHA256, img.Status = sum, "built"
				images = append(images, img)
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(images, func(i, j int) bool { return images[i].File < images[j].File })
	files, err := writeReleaseIndex(o, images)
	if err != nil {
		return nil, err
	}
	return &ReleaseResult{Images: images, Files: files}, nil
}

// resolveLatest replaces "latest" by the recipe's release versions and
// drops the duplicates that may appear.
func resolveLatest(ctx context.Context, entries []VersionEntry, latest func(context.Context, string) ([]string, error)) ([]VersionEntry, error) {
	var out []VersionEntry
	seen := map[[2]string]bool{}
	add := func(e VersionEntry) {
		if k := [2]string{e.Name, e.Version}; !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	for _, e := range entries {
		if e.Version != "latest" {
			add(e)
			continue
		}
		if latest == nil {
			return nil, fmt.Errorf("versions file line %d asks for the latest %s: no version source available", e.Line, e.Name)
		}
		vs, err := latest(ctx, e.Name)
		if err != nil {
			return nil, fmt.Errorf("resolving the latest version of %s: %w", e.Name, err)
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("resolving the latest version of %s: upstream lists no versions", e.Name)
		}
		for _, v := range vs {
			add(VersionEntry{Name: e.Name, Version: v, Line: e.Line})
		}
	}
	return out, nil
}

// DefaultOutput is the default image name NAME-VERSION-ARCH.raw.
func DefaultOutput(name, version string, arch flatcar.Arch) string {
	return name + "-" + version + "-" + string(arch) + ".raw"
}

// maxPublishedSums caps a published SHA256SUMS index.
const maxPublishedSums = 64 << 20

// fetchPublishedSums downloads a SHA256SUMS index; "" or a 404 give none.
func fetchPublishedSums(ctx context.Context, c *http.Client, url string) (map[string]string, error) {
	if url == "" {
		return nil, nil
	}
	g := &httpget.Client{HTTP: c}
	data, err := g.Small(ctx, url, maxPublishedSums)
	if errors.Is(err, httpget.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching published SHA256SUMS: %w", err)
	}
	sums, err := ParseSHA256Sums(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return sums, nil
}

// releaseBuildOne runs the builder in a private directory in OutputDir
// and renames its image to dst.
func releaseBuildOne(ctx context.Context, o ReleaseOptions, img ReleaseImage, dst string) (string, error) {
	tmp, err := atomicfile.MkdirTemp(o.OutputDir, img.File+".build")
	if err != nil {
		return "", fmt.Errorf("creating build directory: %w", err)
	}
	defer atomicfile.Remove(tmp)
	p, err := o.Build(ctx, img.Recipe, img.Version, img.Arch, tmp)
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(tmp, p); err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return "", fmt.Errorf("builder wrote %s outside its directory %s", p, tmp)
	}
	sum, err := sha256sums.File(p)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(p, 0o644); err != nil {
		return "", fmt.Errorf("setting mode of %s: %w", img.File, err)
	}
	if err := os.Rename(p, dst); err != nil {
		return "", fmt.Errorf("renaming %s into place: %w", img.File, err)
	}
	return sum, nil
}

// writeReleaseIndex writes the index files of a release atomically.
func writeReleaseIndex(o ReleaseOptions, images []ReleaseImage) ([]string, error) {
	all := map[string]string{}
	per := map[string]map[string]string{}
	for _, img := range images {
		all[img.File] = img.SHA256
		if per[img.Recipe] == nil {
			per[img.Recipe] = map[string]string{}
		}
		per[img.Recipe][img.File] = img.SHA256
	}
	content := map[string]string{
		"SHA256SUMS": FormatSHA256Sums(all),
		"noop.conf":  sysext.NoopConf,
		"Release.md": releaseNotes(images),
	}
	for name, sums := range per {
		content[SHA256SumsName(name)] = FormatSHA256Sums(sums)
		conf, err := SysupdateConf(SysupdateOptions{Name: name, BakeryURL: o.BakeryURL, Release: o.BakeryRelease})
		if err != nil {
			return nil, err
		}
		content[SysupdateConfName(name)] = conf
	}
	names := make([]string, 0, len(content))
	for n := range content {
		names = append(names, n)
	}
	sort.Strings(names)
	var files []string
	for _, n := range names {
		p := filepath.Join(o.OutputDir, n)
		if err := writeFileAtomic(p, []byte(content[n])); err != nil {
			return nil, err
		}
		files = append(files, p)
	}
	return files, nil
}

// releaseNotes renders Release.md: a table of every image.
func releaseNotes(images []ReleaseImage) string {
	var b strings.Builder
	b.WriteString("# Sysext release\n\n")
	counts := map[string]int{}
	for _, img := range images {
		counts[img.Status]++
	}
	fmt.Fprintf(&b, "%d images: %d built, %d already present, %d already published.\n\n",
		len(images), counts["built"], counts["existing"], counts["published"])
	b.WriteString("| Extension | Version | Architecture | File | SHA-256 | Status |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, img := range images {
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` | `%s` | %s |\n", img.Recipe, img.Version, img.Arch, img.File, img.SHA256, img.Status)
	}
	return b.String()
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }
