package provision

import (
	"fmt"
	"strconv"
	"strings"
)

// specSupport says which Ignition spec versions Flatcar releases read, by
// major version (the build number: every channel of a major ships the same
// Ignition). Each row holds from its major on, up to the next row. The
// Ignition versions come from the releases index's major_software; the
// newest stable spec of each Ignition version from Ignition's release
// notes (2.11 stabilised 3.3.0, 2.15 3.4.0, 2.20 3.5.0).
var specSupport = []struct {
	major    int
	ignition string
	maxSpec  string
}{
	{3185, "2.13.0", "3.3.0"},
	{3535, "2.15.0", "3.4.0"},
	{4152, "2.20.0", "3.5.0"},
}

// firstIgnitionV2 is the first Flatcar major with Ignition 2.x (spec 3.x).
const firstIgnitionV2 = 3185

// MaxSpec returns the newest Ignition spec version the Flatcar release
// flatcarVersion (MAJOR.MINOR.PATCH) reads, and the Ignition version it
// ships. An empty or unparsable version means "the newest we know".
func MaxSpec(flatcarVersion string) (spec, ignition string, err error) {
	last := specSupport[len(specSupport)-1]
	if flatcarVersion == "" {
		return last.maxSpec, last.ignition, nil
	}
	major, err := strconv.Atoi(strings.SplitN(flatcarVersion, ".", 2)[0])
	if err != nil {
		return last.maxSpec, last.ignition, nil
	}
	if major < firstIgnitionV2 {
		return "", "0.x", fmt.Errorf("Flatcar %s runs Ignition 0.x, which reads spec 2.x configs only; bake-os validates spec 3.x: use Flatcar %d.0.0 or newer", flatcarVersion, firstIgnitionV2)
	}
	row := specSupport[0]
	for _, r := range specSupport {
		if major >= r.major {
			row = r
		}
	}
	return row.maxSpec, row.ignition, nil
}

// compareSpec compares two MAJOR.MINOR.PATCH spec versions.
func compareSpec(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
