package gpt

import (
	"fmt"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
)

// required are the partitions a baker needs, by label and type.
var required = []struct{ label, typ string }{
	{flatcar.LabelESP, flatcar.TypeEFISystem},
	{flatcar.LabelUSRA, flatcar.TypeFlatcarUSR},
	{flatcar.LabelOEM, flatcar.TypeLinuxData},
	{flatcar.LabelROOT, flatcar.TypeFlatcarResize},
}

// CheckFlatcar refuses a disk that is not a Flatcar image, naming every
// partition (label and type GUID) that is missing or of the wrong type.
func (d *Disk) CheckFlatcar() error {
	var problems []string
	for _, r := range required {
		p, err := d.ByLabel(r.label)
		if err != nil {
			problems = append(problems, fmt.Sprintf("no partition labelled %s (type %s)", r.label, r.typ))
			continue
		}
		if p.TypeGUID != r.typ {
			problems = append(problems, fmt.Sprintf("partition %d %s has type %s, want %s", p.Number, r.label, p.TypeGUID, r.typ))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s is not a Flatcar image: %s", d.Path, strings.Join(problems, "; "))
	}
	return nil
}
