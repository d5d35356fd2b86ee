package sysext

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// NoopConf is /etc/sysupdate.d/noop.conf as the sysext-bakery ships it: a
// transfer that never matches, so systemd-sysupdate runs without errors
// when only per-extension components (/etc/sysupdate.NAME.d) exist.
const NoopConf = `[Source]
Type=regular-file
Path=/
MatchPattern=invalid@v.raw

[Target]
Type=regular-file
Path=/
`

// Dirs are the directories of a writable root that systemd-sysext reads
// extension images and links from (it also reads /usr/lib/extensions,
// which is part of the read-only USR partition on Flatcar).
var Dirs = []string{"/etc/extensions", "/run/extensions", "/var/lib/extensions"}

// IsDir reports whether dir is one of Dirs.
func IsDir(dir string) bool {
	for _, d := range Dirs {
		if dir == d {
			return true
		}
	}
	return false
}

// SysupdateConf is what a bake needs from a sysupdate.d(5) transfer file:
// where its [Target] keeps the versions and links the current one, and the
// MatchPatterns its sections use to recognise a version's file name.
type SysupdateConf struct {
	TargetType     string // [Target] Type=, e.g. regular-file
	Path           string // [Target] Path=: absolute and clean, or ""
	PathRelativeTo string // [Target] PathRelativeTo=, "" for the root
	CurrentSymlink string // [Target] CurrentSymlink=, checked by CheckLink
	// SourcePatterns and TargetPatterns are the MatchPattern= values of
	// [Source] and [Target] (a value may list several, blank-separated).
	SourcePatterns []string
	TargetPatterns []string
}

// maxConfSize bounds a transfer file; real ones are a few hundred bytes.
const maxConfSize = 64 << 10

// ReadSysupdateConf reads and parses the transfer file file.
func ReadSysupdateConf(file string) (SysupdateConf, error) {
	f, err := os.Open(file)
	if err != nil {
		return SysupdateConf{}, fmt.Errorf("reading sysupdate config: %w", err)
	}
	defer f.Close()
	c, err := ParseSysupdateConf(f)
	if err != nil {
		return c, fmt.Errorf("sysupdate config %s: %w", file, err)
	}
	return c, nil
}

// ParseSysupdateConf parses a sysupdate.d(5) transfer file. Paths are
// checked: [Target] Path= must be absolute without ".." (it is cleaned),
// CurrentSymlink= must pass CheckLink.
func ParseSysupdateConf(r io.Reader) (SysupdateConf, error) {
	var c SysupdateConf
	data, err := io.ReadAll(io.LimitReader(r, maxConfSize+1))
	if err != nil {
		return c, fmt.Errorf("reading: %w", err)
	}
	if len(data) > maxConfSize {
		return c, fmt.Errorf("larger than %d KiB: not a transfer file", maxConfSize>>10)
	}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 4096), maxConfSize+1)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		if strings.HasPrefix(l, "[") {
			if !strings.HasSuffix(l, "]") {
				return c, fmt.Errorf("line %d: bad section header %q", n, l)
			}
			section = l[1 : len(l)-1]
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return c, fmt.Errorf("line %d: want KEY=VALUE, got %q", n, l)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch section + "/" + k {
		case "Source/MatchPattern":
			c.SourcePatterns = appendPatterns(c.SourcePatterns, v)
		case "Target/MatchPattern":
			c.TargetPatterns = appendPatterns(c.TargetPatterns, v)
		case "Target/Type":
			c.TargetType = v
		case "Target/Path":
			c.Path = v
		case "Target/PathRelativeTo":
			c.PathRelativeTo = v
		case "Target/CurrentSymlink":
			c.CurrentSymlink = v
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("reading: %w", err)
	}
	if c.TargetType != "" && c.TargetType != "regular-file" {
		return c, fmt.Errorf("[Target] Type=%s: a sysext image is a file, use Type=regular-file", c.TargetType)
	}
	if c.Path != "" {
		if err := checkConfPath("[Target] Path", c.Path); err != nil {
			return c, err
		}
		c.Path = path.Clean(c.Path)
	}
	if c.CurrentSymlink != "" {
		if err := CheckLink(c.CurrentSymlink); err != nil {
			return c, fmt.Errorf("[Target] CurrentSymlink=%s: %w", c.CurrentSymlink, err)
		}
	}
	return c, nil
}

// appendPatterns adds a MatchPattern= value; an empty one resets the list.
func appendPatterns(list []string, v string) []string {
	if v == "" {
		return nil
	}
	return append(list, strings.Fields(v)...)
}

// badPathChars are characters a path in ROOT or OEM may not have: control
// characters, quotes and backslashes (debugfs and the conf syntax treat
// them specially) and '%' (a systemd specifier bake-os cannot expand).
func badPathChar(p string) bool {
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == '%' {
			return true
		}
	}
	return false
}

func checkConfPath(key, p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s=%s is not absolute", key, p)
	case hasDotDot(p):
		return fmt.Errorf("%s=%s contains '..'", key, p)
	case strings.ContainsRune(p, '%'):
		return fmt.Errorf("%s=%s has a %% specifier bake-os cannot expand: write the path out", key, p)
	case badPathChar(p):
		return fmt.Errorf("%s=%q has a control character, quote or backslash", key, p)
	}
	return nil
}

func hasDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

// CheckLink checks a link path systemd-sysext is to find an extension by:
// absolute, normalised, NAME.raw directly in /etc/extensions or
// /var/lib/extensions. /run/extensions is refused: /run is a tmpfs on a
// running system, so a link baked there would be gone at boot.
func CheckLink(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("not absolute: use /etc/extensions/NAME.raw")
	case path.Clean(p) != p:
		return fmt.Errorf("not normalised (it is %s): write it plainly", path.Clean(p))
	case badPathChar(p):
		return fmt.Errorf("has a control character, quote, backslash or %% specifier")
	case path.Dir(p) == "/run/extensions":
		return fmt.Errorf("/run is a tmpfs on a running Flatcar, a link baked there is gone at boot: use /etc/extensions/%s", path.Base(p))
	case !IsDir(path.Dir(p)):
		return fmt.Errorf("not in a directory systemd-sysext reads: use /etc/extensions/NAME.raw (or /var/lib/extensions)")
	case !strings.HasSuffix(p, ".raw") || p == path.Dir(p)+"/.raw":
		return fmt.Errorf("systemd-sysext only reads NAME.raw: use %s/NAME.raw", path.Dir(p))
	}
	return nil
}
