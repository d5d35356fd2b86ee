package flatcar

import (
	"fmt"
	"strings"
)

// Arch is a systemd ARCHITECTURE value Flatcar ships: "x86-64" or "arm64".
type Arch string

const (
	ArchX86_64 Arch = "x86-64"
	ArchARM64  Arch = "arm64"
)

// ParseArch accepts x86-64 and arm64 plus the aliases amd64, x86_64 and
// aarch64.
func ParseArch(s string) (Arch, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "x86-64", "amd64", "x86_64":
		return ArchX86_64, nil
	case "arm64", "aarch64":
		return ArchARM64, nil
	}
	return "", fmt.Errorf("unknown architecture %q: use x86-64 or arm64 (aliases amd64, x86_64, aarch64)", s)
}

// Board is the release server's board directory for the architecture.
func (a Arch) Board() string {
	if a == ArchARM64 {
		return "arm64-usr"
	}
	return "amd64-usr"
}

// GoArch is the Go/Docker/OCI spelling: amd64 or arm64.
func (a Arch) GoArch() string {
	if a == ArchARM64 {
		return "arm64"
	}
	return "amd64"
}

// UnameMachine is the kernel's spelling: x86_64 or aarch64.
func (a Arch) UnameMachine() string {
	if a == ArchARM64 {
		return "aarch64"
	}
	return "x86_64"
}

func (a Arch) String() string { return string(a) }

// EFILoader is the file name of the architecture's removable-media EFI
// loader, which every Flatcar image carries in the ESP's EFI/boot
// directory (the UEFI specification fixes the name per machine type).
func (a Arch) EFILoader() string {
	if a == ArchARM64 {
		return "bootaa64.efi"
	}
	return "bootx64.efi"
}

// ArchOfEFILoader maps an EFI/boot loader file name (FAT names are case
// insensitive) to the architecture it boots; ok is false for any other
// name.
func ArchOfEFILoader(name string) (a Arch, ok bool) {
	for _, a := range []Arch{ArchX86_64, ArchARM64} {
		if strings.EqualFold(name, a.EFILoader()) {
			return a, true
		}
	}
	return "", false
}
