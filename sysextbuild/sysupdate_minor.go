package sysextbuild

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bake-os/bake-os/internal/atomicfile"
)

var minorRe = regexp.MustCompile(`^v[0-9]+\.[0-9]+`)

// WriteMinorConf writes NAME-vX.Y.conf beside the image: a sysupdate
// transfer that only follows the vX.Y minor line (kubernetes, k3s, rke2).
// Written to a temp file and renamed.
func WriteMinorConf(name, version, dir string) error {
	minor := minorRe.FindString(version)
	if minor == "" {
		return fmt.Errorf("writing %s minor sysupdate conf: version %q does not start with vX.Y", name, version)
	}
	conf := strings.Join([]string{
		"[Transfer]",
		"Verify=false",
		"",
		"[Source]",
		"Type=url-file",
		"Path=https://extensions.flatcar.org/extensions/" + name + "/",
		"MatchPattern=" + name + "-" + minor + ".@v-%a.raw",
		"",
		"[Target]",
		"InstancesMax=3",
		"Type=regular-file",
		"Path=/opt/extensions/" + name,
		"CurrentSymlink=/etc/extensions/" + name + ".raw",
		"",
	}, "\n")
	out := filepath.Join(dir, name+"-"+minor+".conf")
	tmp, err := atomicfile.CreateTemp(dir, filepath.Base(out))
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer atomicfile.Remove(tmp.Name()) // after the rename: only forgets
	if _, err := tmp.WriteString(conf); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}
