package flatcar

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a strict MAJOR.MINOR.PATCH Flatcar version.
type Version struct{ Major, Minor, Patch int }

// ParseVersion accepts only strict MAJOR.MINOR.PATCH (digits only).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", s)
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", s, err)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less compares numerically.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// Channel names the release channel of the version by its minor number:
// 0 alpha, 1 beta, 2 stable, anything else lts.
func (v Version) Channel() string {
	switch v.Minor {
	case 0:
		return "alpha"
	case 1:
		return "beta"
	case 2:
		return "stable"
	}
	return "lts"
}

// Channels are the release channels a user may name.
var Channels = []string{"alpha", "beta", "stable", "lts"}
