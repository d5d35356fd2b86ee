package vendors

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bake-os/bake-os/flatcar"
)

// Disk says how a vendor's disk is written by the diskfmt package.
type Disk struct {
	// Format is the diskfmt name: raw, qcow2, vmdk, vhd, vhdx or parallels.
	// Empty for vendors without a diskfmt disk (iso, pxe; usb writes its
	// raw disk itself).
	Format string
	// Subformat: vmdk "monolithicSparse" or "streamOptimized"; vhd "fixed"
	// or "dynamic"; empty otherwise.
	Subformat string
	// Adapter is the vmdk controller: "ide" or "lsilogic".
	Adapter string
	// VirtualSize forces the disk size in bytes (exoscale: 10 GiB); 0 means
	// the layout's disk size.
	VirtualSize int64
}

// Vendor is one row of the vendor table (docs/vendors.md).
type Vendor struct {
	Name string
	// Help is the one-line description shown by --help.
	Help string
	Disk Disk
	// Layout is the flatcar.Layouts name the disk is grown to; "" for iso,
	// pxe and usb (not made from the Flatcar disk).
	Layout string
	// OEM is the OEM sysext id (oem-ID.raw); "" means no OEM content.
	OEM string
	// File is the main output file name (before release compression).
	File string
	// Compress is the release compression list, what Flatcar publishes
	// ("none" keeps the uncompressed file too); written only with
	// --compress release. By default the File is written uncompressed.
	Compress []string
	// Arches are the architectures Flatcar builds this vendor for.
	Arches []flatcar.Arch
	// Bundle names what makes the vendor's files from its disk (bundle.go
	// lists them: qemu_uefi, vmx, ova, ovf, gce, vagrant,
	// vagrant_parallels, parallels, xen, iso, pxe); "" is the plain disk.
	Bundle string
	// Extras names the other files the vendor ships, by the role its
	// bundle gives them (every role the bundle declares, and no other).
	Extras map[string]string
}

// Supports reports whether the vendor exists for arch.
func (v Vendor) Supports(arch flatcar.Arch) bool { return slices.Contains(v.Arches, arch) }

// Partitioned reports whether the vendor starts from the GPT disk and so
// needs the disk prepared (grown, OEM installed).
func (v Vendor) Partitioned() bool { return v.Layout != "" }

var (
	amd64Only = []flatcar.Arch{flatcar.ArchX86_64}
	bothArch  = []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64}

	cBz2      = []string{"bz2"}
	cBz2None  = []string{"bz2", "none"}
	cGzBz2    = []string{"gz", "bz2"}
	cGzBz2Non = []string{"gz", "bz2", "none"}
	cZip      = []string{"zip"}
	cNone     = []string{"none"}
	cGz       = []string{"gz"}
)

const gib = 1 << 30

func img(vendor, ext string) string { return "flatcar_production_" + vendor + "_image." + ext }

// GenericName is the --vendor value for the plain generic image.
const GenericName = "generic"

// generic is the plain baked image, written as the release names it.
var generic = Vendor{
	Name: GenericName, Help: "plain generic image (raw, base layout, no OEM)",
	Disk: Disk{Format: "raw"}, Layout: "base", File: "flatcar_production_image.bin",
	Compress: cBz2, Arches: bothArch,
}

// table is the one list of vendors, in docs/vendors.md order.
var table = []Vendor{
	{Name: "qemu_uefi", Help: "QEMU with UEFI: qcow2, launcher script, firmware",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "qemu", File: img("qemu_uefi", "img"),
		Compress: cBz2None, Arches: bothArch, Bundle: "qemu_uefi",
		Extras: map[string]string{"script": qemuScriptName, "code": qemuCodeName, "vars": qemuVarsName,
			"readme": qemuReadmeName}},
	{Name: "ami", Help: "Amazon EC2: raw",
		Disk: Disk{Format: "raw"}, Layout: "vm", OEM: "ami", File: img("ami", "bin"),
		Compress: cBz2, Arches: bothArch},
	{Name: "ami_vmdk", Help: "Amazon EC2 import: stream-optimized vmdk",
		Disk: Disk{Format: "vmdk", Subformat: "streamOptimized"}, Layout: "vm", OEM: "ami", File: img("ami_vmdk", "vmdk"),
		Compress: cBz2, Arches: bothArch},
	{Name: "azure", Help: "Microsoft Azure: fixed vhd",
		Disk: Disk{Format: "vhd", Subformat: "fixed"}, Layout: "azure", OEM: "azure", File: img("azure", "vhd"),
		Compress: cBz2, Arches: bothArch},
	{Name: "gce", Help: "Google Compute Engine: tar.gz with disk.raw",
		Disk: Disk{Format: "raw"}, Layout: "vm", OEM: "gce", File: "flatcar_production_gce.tar.gz",
		Compress: cNone, Arches: amd64Only, Bundle: "gce"},
	{Name: "openstack", Help: "OpenStack: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "openstack", File: img("openstack", "img"),
		Compress: cGzBz2Non, Arches: bothArch},
	{Name: "openstack_mini", Help: "OpenStack, small disk: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "base", OEM: "openstack", File: img("openstack_mini", "img"),
		Compress: cGzBz2, Arches: bothArch},
	{Name: "digitalocean", Help: "DigitalOcean: raw",
		Disk: Disk{Format: "raw"}, Layout: "base", OEM: "digitalocean", File: img("digitalocean", "bin"),
		Compress: cGzBz2, Arches: amd64Only},
	{Name: "hetzner", Help: "Hetzner: raw",
		Disk: Disk{Format: "raw"}, Layout: "vm", OEM: "hetzner", File: img("hetzner", "bin"),
		Compress: cBz2, Arches: bothArch},
	{Name: "akamai", Help: "Akamai (Linode): raw",
		Disk: Disk{Format: "raw"}, Layout: "vm", OEM: "akamai", File: img("akamai", "bin"),
		Compress: cGz, Arches: amd64Only},
	{Name: "cloudsigma", Help: "CloudSigma: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "base", OEM: "cloudsigma", File: img("cloudsigma", "img"),
		Compress: cBz2, Arches: amd64Only},
	{Name: "cloudstack", Help: "Apache CloudStack: raw",
		Disk: Disk{Format: "raw"}, Layout: "base", OEM: "cloudstack", File: img("cloudstack", "bin"),
		Compress: cBz2, Arches: amd64Only},
	{Name: "cloudstack_vhd", Help: "Apache CloudStack: dynamic vhd",
		Disk: Disk{Format: "vhd", Subformat: "dynamic"}, Layout: "base", OEM: "cloudstack", File: img("cloudstack_vhd", "vhd"),
		Compress: cBz2, Arches: amd64Only},
	{Name: "exoscale", Help: "Exoscale: qcow2 of exactly 10 GiB",
		Disk: Disk{Format: "qcow2", VirtualSize: 10 * gib}, Layout: "base", OEM: "exoscale", File: img("exoscale", "qcow2"),
		Compress: cNone, Arches: amd64Only},
	{Name: "scaleway", Help: "Scaleway: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "scaleway", File: img("scaleway", "qcow2"),
		Compress: cNone, Arches: bothArch},
	{Name: "stackit", Help: "STACKIT: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "stackit", File: img("stackit", "img"),
		Compress: cNone, Arches: bothArch},
	{Name: "kubevirt", Help: "KubeVirt: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "kubevirt", File: img("kubevirt", "qcow2"),
		Compress: cNone, Arches: bothArch},
	{Name: "proxmoxve", Help: "Proxmox VE: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "proxmoxve", File: img("proxmoxve", "img"),
		Compress: cNone, Arches: bothArch},
	{Name: "nutanix", Help: "Nutanix AHV: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "nutanix", File: img("nutanix", "img"),
		Compress: cBz2, Arches: amd64Only},
	{Name: "oraclecloud", Help: "Oracle Cloud: qcow2",
		Disk: Disk{Format: "qcow2"}, Layout: "vm", OEM: "oraclecloud", File: img("oraclecloud", "img"),
		Compress: cNone, Arches: amd64Only},
	{Name: "hyperv", Help: "Hyper-V: dynamic vhd",
		Disk: Disk{Format: "vhd", Subformat: "dynamic"}, Layout: "base", OEM: "hyperv", File: img("hyperv", "vhd"),
		Compress: cZip, Arches: amd64Only},
	{Name: "hyperv_vhdx", Help: "Hyper-V: dynamic vhdx",
		Disk: Disk{Format: "vhdx"}, Layout: "base", OEM: "hyperv", File: img("hyperv_vhdx", "vhdx"),
		Compress: cZip, Arches: amd64Only},
	{Name: "vmware", Help: "VMware: vmdk (lsilogic) and .vmx",
		Disk: Disk{Format: "vmdk", Subformat: "monolithicSparse", Adapter: "lsilogic"}, Layout: "vm", OEM: "vmware",
		File: img("vmware", "vmdk"), Compress: cBz2, Arches: amd64Only, Bundle: "vmx",
		Extras: map[string]string{"vmx": "flatcar_production_vmware.vmx"}},
	{Name: "vmware_ova", Help: "VMware: .ova with OVF, vmdk and SHA1 manifest",
		Disk: Disk{Format: "vmdk", Subformat: "streamOptimized", Adapter: "lsilogic"}, Layout: "vm", OEM: "vmware",
		File: "flatcar_production_vmware_ova.ova", Compress: cNone, Arches: amd64Only, Bundle: "ova"},
	{Name: "vmware_raw", Help: "VMware: raw",
		Disk: Disk{Format: "raw"}, Layout: "base", OEM: "vmware", File: img("vmware_raw", "bin"),
		Compress: cBz2, Arches: amd64Only},
	{Name: "virtualbox", Help: "VirtualBox: vmdk (ide) and .ovf",
		Disk: Disk{Format: "vmdk", Subformat: "monolithicSparse", Adapter: "ide"}, Layout: "vm", OEM: "virtualbox",
		File: img("virtualbox", "vmdk"), Compress: cBz2, Arches: amd64Only, Bundle: "ovf",
		Extras: map[string]string{"ovf": "flatcar_production_virtualbox.ovf"}},
	{Name: "vagrant", Help: "Vagrant (VirtualBox): .box",
		Disk: Disk{Format: "vmdk", Subformat: "monolithicSparse", Adapter: "ide"}, Layout: "vagrant", OEM: "vagrant",
		File: "flatcar_production_vagrant.box", Compress: cNone, Arches: amd64Only, Bundle: "vagrant"},
	{Name: "vagrant_parallels", Help: "Vagrant (Parallels): .box",
		Disk: Disk{Format: "parallels"}, Layout: "vagrant", OEM: "vagrant",
		File: "flatcar_production_vagrant_parallels.box", Compress: cNone, Arches: amd64Only, Bundle: "vagrant_parallels"},
	{Name: "parallels", Help: "Parallels: hdd in .tgz",
		Disk: Disk{Format: "parallels"}, Layout: "vm",
		File: "flatcar_production_parallels.tgz", Compress: cNone, Arches: amd64Only, Bundle: "parallels"},
	{Name: "xen", Help: "Xen: raw and xl configs (pygrub, pvgrub)",
		Disk: Disk{Format: "raw"}, Layout: "base", File: img("xen", "bin"),
		Compress: cBz2, Arches: amd64Only, Bundle: "xen",
		Extras: map[string]string{"pygrub": "flatcar_production_xen_pygrub.cfg", "pvgrub": "flatcar_production_xen_pvgrub.cfg"}},
	{Name: "iso", Help: "ISO: kernel and initrd holding /usr",
		File: img("iso", "iso"), Compress: cBz2, Arches: amd64Only, Bundle: "iso"},
	{Name: "pxe", Help: "PXE: kernel and cpio.gz holding /usr",
		File: img("pxe", "cpio.gz"), Compress: cNone, Arches: bothArch, Bundle: "pxe",
		Extras: map[string]string{"kernel": "flatcar_production_pxe.vmlinuz", "ignition": "flatcar_production_pxe_ignition.cpio.gz"}},
	{Name: "usb", Help: "USB stick: raw disk with kernel and initrd",
		File: img("usb", "bin"), Compress: cBz2, Arches: amd64Only, Bundle: "usb"},
}

// All returns the vendors of docs/vendors.md in table order (without
// "generic").
func All() []Vendor { return slices.Clone(table) }

// Generic returns the plain generic image pseudo-vendor.
func Generic() Vendor { return generic }

// Names returns the valid --vendor values: every vendor name, "generic"
// and "all".
func Names() []string {
	names := []string{GenericName}
	for _, v := range table {
		names = append(names, v.Name)
	}
	return append(names, "all")
}

// Lookup returns the vendor called name (including "generic").
func Lookup(name string) (Vendor, bool) {
	if name == GenericName {
		return generic, true
	}
	for _, v := range table {
		if v.Name == name {
			return v, true
		}
	}
	return Vendor{}, false
}

// Parse turns --vendor values (each a comma-separated list; repeats are
// fine) into vendors in first-seen order. "all" means every vendor of the
// table, "generic" the plain image. An unknown name is an error listing the
// valid ones.
func Parse(list []string) ([]Vendor, error) { return parse(list, "") }

// ParseForArch is Parse for one architecture: "all" means every vendor
// Flatcar builds for arch, and a vendor named explicitly that does not exist
// for arch is an error.
func ParseForArch(list []string, arch flatcar.Arch) ([]Vendor, error) { return parse(list, arch) }

func parse(list []string, arch flatcar.Arch) ([]Vendor, error) {
	var out []Vendor
	seen := map[string]bool{}
	add := func(v Vendor) {
		if !seen[v.Name] {
			seen[v.Name] = true
			out = append(out, v)
		}
	}
	for _, item := range list {
		for _, name := range strings.Split(item, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "":
				continue
			case "all":
				for _, v := range table {
					if arch == "" || v.Supports(arch) {
						add(v)
					}
				}
				continue
			}
			v, ok := Lookup(name)
			if !ok {
				return nil, fmt.Errorf("unknown vendor %q: use one of %s", name, strings.Join(Names(), ", "))
			}
			if arch != "" && !v.Supports(arch) {
				return nil, fmt.Errorf("vendor %q is not built for %s: use one of %s", name, arch, strings.Join(namesFor(arch), ", "))
			}
			add(v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no vendor given: use one of %s", strings.Join(Names(), ", "))
	}
	return out, nil
}

func namesFor(arch flatcar.Arch) []string {
	names := []string{GenericName}
	for _, v := range table {
		if v.Supports(arch) {
			names = append(names, v.Name)
		}
	}
	return names
}

// CheckArch refuses vendors that Flatcar does not build for arch.
func CheckArch(vs []Vendor, arch flatcar.Arch) error {
	for _, v := range vs {
		if !v.Supports(arch) {
			return fmt.Errorf("vendor %q is not built for %s: use one of %s", v.Name, arch, strings.Join(namesFor(arch), ", "))
		}
	}
	return nil
}

// HelpText is the --vendor flag's help: one line per vendor with its
// architectures, then the special values.
func HelpText() string {
	var b strings.Builder
	b.WriteString("vendor images to build (comma-separated, repeatable):\n")
	w := len(GenericName)
	for _, v := range table {
		w = max(w, len(v.Name))
	}
	line := func(v Vendor) {
		only := ""
		if !v.Supports(flatcar.ArchARM64) {
			only = " (x86-64 only)"
		}
		fmt.Fprintf(&b, "  %-*s  %s%s\n", w, v.Name, v.Help, only)
	}
	line(generic)
	for _, v := range table {
		line(v)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", w, "all", "every vendor built for the architecture")
	return b.String()
}

// checkTable validates the table; tests call it and it panics on a
// programming error (duplicate name, unknown layout, missing GRUB settings).
func checkTable(vs []Vendor) {
	seen := map[string]bool{GenericName: true, "all": true}
	for _, v := range vs {
		if seen[v.Name] {
			panic("vendors: duplicate vendor name " + v.Name)
		}
		seen[v.Name] = true
		if v.Layout != "" {
			if _, ok := flatcar.Layouts[v.Layout]; !ok {
				panic("vendors: unknown layout " + v.Layout + " for " + v.Name)
			}
		}
		if v.OEM != "" {
			if _, ok := grubSettings[v.OEM]; !ok {
				panic("vendors: no GRUB settings for OEM " + v.OEM)
			}
		}
		if len(v.Arches) == 0 || v.File == "" || len(v.Compress) == 0 {
			panic("vendors: incomplete entry " + v.Name)
		}
		checkBundle(v)
		for _, c := range v.Compress {
			if _, err := ParseCompression(c); err != nil {
				panic("vendors: " + v.Name + ": " + err.Error())
			}
		}
	}
}
