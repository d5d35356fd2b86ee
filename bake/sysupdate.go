package bake

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// SysupdateTarget is what placement needs from a sysupdate.d transfer
// file: its [Target] Path= and CurrentSymlink=.
type SysupdateTarget struct {
	Path           string
	CurrentSymlink string
}

// ReadSysupdateTarget parses the [Target] section of a sysupdate.d(5)
// transfer file.
func ReadSysupdateTarget(file string) (SysupdateTarget, error) {
	f, err := os.Open(file)
	if err != nil {
		return SysupdateTarget{}, fmt.Errorf("reading sysupdate config: %w", err)
	}
	defer f.Close()
	var t SysupdateTarget
	section := ""
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		if strings.HasPrefix(l, "[") {
			if !strings.HasSuffix(l, "]") {
				return t, fmt.Errorf("sysupdate config %s line %d: bad section header %q", file, n, l)
			}
			section = l[1 : len(l)-1]
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return t, fmt.Errorf("sysupdate config %s line %d: want KEY=VALUE, got %q", file, n, l)
		}
		if section != "Target" {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Path":
			t.Path = strings.TrimSpace(v)
		case "CurrentSymlink":
			t.CurrentSymlink = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("reading sysupdate config %s: %w", file, err)
	}
	if t.Path != "" {
		if !strings.HasPrefix(t.Path, "/") {
			return t, fmt.Errorf("sysupdate config %s: [Target] Path=%s is not absolute", file, t.Path)
		}
		t.Path = path.Clean(t.Path)
	}
	return t, nil
}
