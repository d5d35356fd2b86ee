package flatcar

// SectorSize is the logical sector size of every Flatcar disk image.
const SectorSize = 512

// Partition labels (GPT names) of the Flatcar disk layout.
const (
	LabelESP       = "EFI-SYSTEM"
	LabelBIOSBoot  = "BIOS-BOOT"
	LabelUSRA      = "USR-A"
	LabelUSRB      = "USR-B"
	LabelOEM       = "OEM"
	LabelOEMConfig = "OEM-CONFIG"
	LabelROOT      = "ROOT"
)

// Partition type GUIDs (lower case, as sgdisk prints them in upper case).
const (
	TypeEFISystem      = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	TypeBIOSBoot       = "21686148-6449-6e6f-744e-656564454649"
	TypeFlatcarUSR     = "5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6"
	TypeLinuxData      = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	TypeFlatcarReserve = "c95dc21a-df0e-4340-8d7b-26cbfa9a03e0"
	TypeFlatcarResize  = "3884dd41-8582-4404-b9a8-e9b84f2df50e"
)

// DiskGUID is the disk GUID of a released image (randomised on first boot).
const DiskGUID = "00000000-0000-0000-0000-000000000001"

// Unique GUIDs Flatcar pins for the USR partitions.
const (
	USRAUniqueGUID = "7130c94a-213a-4e5a-8e26-6cce9662f132"
	USRBUniqueGUID = "e03dd35c-7c2d-4a47-b3fe-27f15780a57c"
)

// USRAAttributes is the GPT attribute word of USR-A in a released image:
// gptprio priority 1, tries 0, successful 1.
const USRAAttributes uint64 = 0x0101000000000000

// PartitionSpec is one entry of the base layout.
type PartitionSpec struct {
	Number      int
	Label       string
	TypeGUID    string
	UniqueGUID  string // "" means: any (derived by the generator)
	FirstSector uint64
	Sectors     uint64
	Attributes  uint64
	FS          string // "vfat", "btrfs", "ext4" or "" (none)
}

// BaseLayout is the "base" layout of flatcar_production_image.bin.
var BaseLayout = []PartitionSpec{
	{1, LabelESP, TypeEFISystem, "", 4096, 2097152, 0, "vfat"},
	{2, LabelBIOSBoot, TypeBIOSBoot, "", 2101248, 4096, 0, ""},
	{3, LabelUSRA, TypeFlatcarUSR, USRAUniqueGUID, 2105344, 4194304, USRAAttributes, "btrfs"},
	{4, LabelUSRB, TypeFlatcarUSR, USRBUniqueGUID, 6299648, 4194304, 0, ""},
	{6, LabelOEM, TypeLinuxData, "", 10493952, 2097152, 0, "btrfs"},
	{7, LabelOEMConfig, TypeFlatcarReserve, "", 12591104, 131072, 0, ""},
	{9, LabelROOT, TypeFlatcarResize, "", 12722176, 3653632, 0, "ext4"},
}

// Layout is a named disk layout: only ROOT's size (and so the disk size)
// differs between them.
type Layout struct {
	Name        string
	RootSectors uint64
	DiskSectors uint64
}

// DiskBytes is the disk size in bytes.
func (l Layout) DiskBytes() int64 { return int64(l.DiskSectors) * SectorSize }

// Layouts are the layouts vendor images use.
var Layouts = map[string]Layout{
	"base":    {"base", 3653632, 16515072},
	"vm":      {"vm", 12943360, 25804800},
	"azure":   {"azure", 50876416, 63737856},
	"vagrant": {"vagrant", 33845248, 46706688},
}

// DiskSizeQuantum: the disk size is the end of the last partition plus 34
// sectors, rounded up to a multiple of this many sectors.
const DiskSizeQuantum = 258048

// DiskSectorsFor returns the disk size in sectors for a layout whose last
// partition ends (exclusive) at endSector.
func DiskSectorsFor(endSector uint64) uint64 {
	n := endSector + 34
	return (n + DiskSizeQuantum - 1) / DiskSizeQuantum * DiskSizeQuantum
}
