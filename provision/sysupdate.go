package provision

import (
	"fmt"
	"path"
)

// Paths of the automatic sysext updates in ROOT: what Butane's
// `enabled: true` and `dropins` of [Butane] amount to once applied.
const (
	// SysupdateTimerUnit is where Flatcar ships the timer unit (in /usr).
	SysupdateTimerUnit = "/usr/lib/systemd/system/" + SysupdateTimer
	// SysupdateTimerWants enables the timer (its [Install] WantedBy=timers.target).
	SysupdateTimerWants = "/etc/systemd/system/timers.target.wants/" + SysupdateTimer
	// SysupdateDropInDir holds the systemd-sysupdate.service drop-ins.
	SysupdateDropInDir = "/etc/systemd/system/" + SysupdateService + ".d"
)

// UnitFile is one file or link of the automatic updates.
type UnitFile struct {
	Path       string // in ROOT
	Content    string // a file's content ("" for a link)
	LinkTarget string // a link's target ("" for a file)
	Kind       string // sysupdate-timer-link, sysupdate-dropin
}

// SysupdateUnits are the files that set up automatic updates of the
// extensions names, the same as [Butane] with Sysupdate writes: the timer
// enabled, one drop-in per extension running its update, and the drop-in
// restarting systemd-sysext afterwards. (noop.conf and the transfers are
// the bake's sysupdate configs.) An extension named like the restart
// drop-in is refused.
func SysupdateUnits(names []string) ([]UnitFile, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no extension to update")
	}
	out := []UnitFile{{Path: SysupdateTimerWants, LinkTarget: SysupdateTimerUnit, Kind: "sysupdate-timer-link"}}
	for _, n := range names {
		if n+".conf" == RefreshDropInName {
			return nil, fmt.Errorf("sysext %s: its update drop-in would be %s, which restarts systemd-sysext; rename the extension to auto-update it", n, RefreshDropInName)
		}
		out = append(out, UnitFile{Path: path.Join(SysupdateDropInDir, n+".conf"), Content: SysupdateDropIn(n), Kind: "sysupdate-dropin"})
	}
	out = append(out, UnitFile{Path: path.Join(SysupdateDropInDir, RefreshDropInName), Content: RefreshDropIn, Kind: "sysupdate-dropin"})
	return out, nil
}
