package bake

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/partitions"
)

// ImageArch reads the architecture of the Flatcar image at path (whose GPT
// d was read from it) from its ESP: the removable-media EFI loader in
// EFI/boot (bootx64.efi or bootaa64.efi) names the machine the image
// boots on. It returns "" when the ESP holds no loader, or loaders of both
// architectures; an error when the ESP is not a readable FAT32. Only the
// directory entries on the way are read, with partitions.FATDir's bounds.
func ImageArch(path string, d *gpt.Disk) (flatcar.Arch, error) {
	esp, err := d.ByLabel(flatcar.LabelESP)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading ESP: %w", err)
	}
	defer f.Close()
	list, err := partitions.FATDir(f, esp.Offset(), esp.Size(), "EFI", "BOOT")
	if err != nil {
		return "", fmt.Errorf("reading ESP: %w", err)
	}
	found := map[flatcar.Arch]bool{}
	for _, e := range list {
		if a, ok := flatcar.ArchOfEFILoader(e.Name); ok && !e.Dir {
			found[a] = true
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	for a := range found {
		return a, nil
	}
	return "", nil
}

// archOfFile is ImageArch on a raw image file that may not have been
// validated yet; any failure reads as unknown (""), left for the image's
// own validation to report.
func archOfFile(path string) flatcar.Arch {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	if bz, err := isBzip2(path); err != nil || bz {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	d, err := gpt.Read(f)
	if err != nil {
		return ""
	}
	a, _ := ImageArch(path, d)
	return a
}

// settleArch reconciles the architecture the caller gave (given, "" for
// none) with the image's (found, "" when unknown): a mismatch is refused;
// without a given one the image's is used, or x86-64 with a warning when
// the image does not say.
func settleArch(image string, given, found flatcar.Arch, log *slog.Logger) (flatcar.Arch, error) {
	switch {
	case found != "" && given != "" && found != given:
		return "", fmt.Errorf("image %s is %s, --arch %s given: pass the %s image or --arch %s", image, found, given, given, found)
	case found != "":
		return found, nil
	case given != "":
		return given, nil
	}
	log.Warn(fmt.Sprintf("image %s: its ESP has no EFI loader (EFI/boot/bootx64.efi or bootaa64.efi) naming its architecture; assuming x86-64 (pass --arch to choose)", image))
	return flatcar.ArchX86_64, nil
}

// precheckSysexts is checkSysexts before the working copy exists. While
// the architecture is not settled (a compressed or downloaded image
// without --arch) the sysexts pass when they fit one of Flatcar's
// architectures, and j.arch becomes that one; Build checks them again
// when the working copy says the image is another.
func precheckSysexts(ctx context.Context, j *job, settled bool) error {
	err := checkSysexts(ctx, j)
	if err == nil || settled {
		return err
	}
	first := j.arch
	for _, a := range []flatcar.Arch{flatcar.ArchX86_64, flatcar.ArchARM64} {
		if a == first {
			continue
		}
		j.arch = a
		if checkSysexts(ctx, j) == nil {
			return nil
		}
	}
	j.arch = first
	return err
}
