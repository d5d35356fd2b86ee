package vendors

import (
	"fmt"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
)

// grub holds the GRUB settings one OEM sysext puts into OEM /grub.cfg
// (docs/vendors.md). oem_id is what Ignition and Afterburn use to pick the
// platform.
type grub struct {
	// OEMID is the oem_id value (ami uses "ec2", stackit "openstack").
	OEMID string
	// LinuxAppend is the linux_append value; "" writes none.
	LinuxAppend string
	// Console returns the linux_console value for arch; nil or "" writes none.
	Console func(arch flatcar.Arch) string
	// Serial is the serial/terminal block; PCOnly wraps it in a check for
	// the BIOS (pc) platform.
	Serial string
	PCOnly bool
}

const (
	autologin  = "flatcar.autologin"
	serialUnit = "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\nterminal_input serial\nterminal_output serial\n"
	serialCom0 = "serial com0 --speed=115200 --word=8 --parity=no\nterminal_input serial_com0\nterminal_output serial_com0\n"
)

func nameOnly(id string) grub { return grub{OEMID: id} }

func fixedConsole(s string) func(flatcar.Arch) string { return func(flatcar.Arch) string { return s } }

// grubSettings is keyed by OEM sysext id.
var grubSettings = map[string]grub{
	"qemu":      {OEMID: "qemu", LinuxAppend: autologin},
	"openstack": {OEMID: "openstack", LinuxAppend: autologin},
	"proxmoxve": {OEMID: "proxmoxve", LinuxAppend: autologin},
	"vmware":    {OEMID: "vmware", LinuxAppend: autologin},
	"azure": {OEMID: "azure", LinuxAppend: autologin, Serial: serialUnit,
		Console: func(a flatcar.Arch) string {
			if a == flatcar.ArchARM64 {
				return "console=tty1 console=ttyAMA0,115200n8 earlycon=pl011,0xeffec000"
			}
			return "console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0,115200"
		}},
	"ami": {OEMID: "ec2", LinuxAppend: "modprobe.blacklist=xen_fbfront net.ifnames=0 nvme_core.io_timeout=4294967295",
		Serial: serialCom0, PCOnly: true,
		Console: func(a flatcar.Arch) string {
			if a == flatcar.ArchARM64 {
				return "console=tty1 console=ttyS0,115200n8 earlycon"
			}
			return "console=ttyS0,115200n8"
		}},
	"gce":          {OEMID: "gce", Console: fixedConsole("console=ttyS0,115200n8"), Serial: serialCom0},
	"scaleway":     {OEMID: "scaleway", Console: fixedConsole("console=ttyS0,115200n8 earlycon=ttyS0,115200")},
	"stackit":      nameOnly("openstack"),
	"akamai":       nameOnly("akamai"),
	"cloudsigma":   nameOnly("cloudsigma"),
	"cloudstack":   nameOnly("cloudstack"),
	"digitalocean": nameOnly("digitalocean"),
	"exoscale":     nameOnly("exoscale"),
	"hetzner":      nameOnly("hetzner"),
	"hyperv":       nameOnly("hyperv"),
	"kubevirt":     nameOnly("kubevirt"),
	"nutanix":      nameOnly("nutanix"),
	"oraclecloud":  nameOnly("oraclecloud"),
	"vagrant":      nameOnly("vagrant"),
	"virtualbox":   nameOnly("virtualbox"),
}

// GrubConfig renders OEM /grub.cfg for the OEM sysext id on arch.
func GrubConfig(oem string, arch flatcar.Arch) (string, error) {
	g, ok := grubSettings[oem]
	if !ok {
		return "", fmt.Errorf("rendering grub.cfg: no GRUB settings for OEM %q", oem)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Flatcar GRUB settings for the %s OEM (written by bake-os)\n\n", oem)
	fmt.Fprintf(&b, "set oem_id=%q\n", g.OEMID)
	if g.LinuxAppend != "" {
		fmt.Fprintf(&b, "set linux_append=%q\n", g.LinuxAppend)
	}
	console := ""
	if g.Console != nil {
		console = g.Console(arch)
	}
	switch {
	case g.PCOnly && arch == flatcar.ArchX86_64:
		b.WriteString("\nif [ \"$grub_platform\" = pc ]; then\n")
		if console != "" {
			fmt.Fprintf(&b, "  set linux_console=%q\n", console)
		}
		for _, l := range strings.SplitAfter(strings.TrimSuffix(g.Serial, "\n"), "\n") {
			b.WriteString("  " + strings.TrimSuffix(l, "\n") + "\n")
		}
		b.WriteString("fi\n")
	case g.PCOnly:
		// Not BIOS: only the arch's console.
		if console != "" {
			fmt.Fprintf(&b, "set linux_console=%q\n", console)
		}
	default:
		if console != "" {
			fmt.Fprintf(&b, "set linux_console=%q\n", console)
		}
		if g.Serial != "" {
			b.WriteString("\n" + g.Serial)
		}
	}
	return b.String(), nil
}
