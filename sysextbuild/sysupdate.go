package sysextbuild

import (
	"fmt"
	"strings"
)

// DefaultBakeryURL is the Flatcar extension server; each extension's
// images live under DefaultBakeryURL/<release>/, the release being the
// extension name by default.
const DefaultBakeryURL = "https://extensions.flatcar.org/extensions"

// SysupdateOptions describe a systemd-sysupdate transfer for one
// extension served by a bakery.
type SysupdateOptions struct {
	Name      string // extension name (NAME.raw in /etc/extensions)
	BakeryURL string // base URL; default DefaultBakeryURL
	Release   string // directory below BakeryURL; default Name
}

// SysupdateConfName is the sysupdate config file name: NAME.conf. It is
// installed as /etc/sysupdate.NAME.d/NAME.conf.
func SysupdateConfName(name string) string { return name + ".conf" }

// SysupdateConf renders NAME.conf: images NAME-VERSION-ARCH.raw are fetched
// from BakeryURL/RELEASE/ (listed in its SHA256SUMS) into
// /opt/extensions/NAME, keeping 3, with /etc/extensions/NAME.raw pointing
// at the current one.
func SysupdateConf(o SysupdateOptions) (string, error) {
	if err := CheckName(o.Name); err != nil {
		return "", err
	}
	base := o.BakeryURL
	if base == "" {
		base = DefaultBakeryURL
	}
	if !strings.Contains(base, "://") || strings.ContainsAny(base, " \t\n") {
		return "", fmt.Errorf("invalid bakery URL %q: use an absolute http(s) URL such as %s", base, DefaultBakeryURL)
	}
	rel := o.Release
	if rel == "" {
		rel = o.Name
	}
	if strings.ContainsAny(rel, " \t\n") {
		return "", fmt.Errorf("invalid bakery release %q: no white space allowed", rel)
	}
	path := strings.TrimRight(base, "/") + "/" + strings.Trim(rel, "/") + "/"
	return fmt.Sprintf(`[Transfer]
Verify=false

[Source]
Type=url-file
Path=%s
MatchPattern=%s-@v-%%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path=/opt/extensions/%s
CurrentSymlink=/etc/extensions/%s.raw
`, path, o.Name, o.Name, o.Name), nil
}
