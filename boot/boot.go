package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/child"
	"github.com/bake-os/bake-os/vendors"
)

// FwCfgIgnition is the fw_cfg name Flatcar's Ignition reads its config
// from under QEMU.
const FwCfgIgnition = "opt/org.flatcar-linux/config"

// DefaultSSHPort is the host port forwarded to the guest's ssh.
const DefaultSSHPort = 2222

// Disk names looked for in an output directory, best first.
var diskNames = []string{"flatcar_production_qemu_uefi_image.img", "flatcar_production_image.bin"}

// Options describes one boot.
type Options struct {
	Image       string       // disk image (raw or qcow2) or a bake's output directory
	Arch        flatcar.Arch // default x86-64
	Ignition    string       // Ignition config passed through fw_cfg
	SSHPort     int          // default DefaultSSHPort; -1: no forwarding
	MemoryMiB   int          // default 2048
	CPUs        int          // default 2
	Console     bool         // serial console on Stdin/Stdout (else discarded)
	FirmwareDir string       // UEFI firmware; default: beside the image, else the distribution's
	// Kernel, Initrd and Append boot a kernel directly, without firmware
	// and GRUB (the serial console goes to Stdout).
	Kernel, Initrd, Append string
	// Accel is "kvm", "tcg" or "" (KVM when /dev/kvm is usable).
	Accel  string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
}

// Disk is the image found for a boot.
type Disk struct {
	Path   string
	Format string // raw or qcow2
}

// FindDisk resolves Options.Image: a file, or the first known disk name in
// a directory.
func FindDisk(image string) (Disk, error) {
	st, err := os.Stat(image)
	if err != nil {
		return Disk{}, fmt.Errorf("boot image: %w", err)
	}
	if st.IsDir() {
		for _, n := range diskNames {
			if p := filepath.Join(image, n); isFile(p) {
				return diskOf(p)
			}
		}
		return Disk{}, fmt.Errorf("no disk image in %s: it holds neither %s", image, strings.Join(diskNames, " nor "))
	}
	if !st.Mode().IsRegular() {
		return Disk{}, fmt.Errorf("boot image %s is not a regular file", image)
	}
	return diskOf(image)
}

func isFile(p string) bool { st, err := os.Stat(p); return err == nil && st.Mode().IsRegular() }

func diskOf(p string) (Disk, error) {
	f, err := os.Open(p)
	if err != nil {
		return Disk{}, fmt.Errorf("boot image: %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return Disk{}, fmt.Errorf("boot image %s: too short to be a disk", p)
	}
	switch {
	case bytes.Equal(magic, []byte{'Q', 'F', 'I', 0xfb}):
		return Disk{Path: p, Format: "qcow2"}, nil
	case string(magic) == "KDMV", string(magic) == "vhdx", string(magic) == "cone":
		return Disk{}, fmt.Errorf("boot image %s is a %s disk: boot the raw or qcow2 image", p, map[string]string{"KDMV": "vmdk", "vhdx": "vhdx", "cone": "vhd"}[string(magic)])
	}
	return Disk{Path: p, Format: "raw"}, nil
}

// kvmUsable reports whether /dev/kvm can be opened for QEMU.
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Command returns QEMU's argv for o; tmp is a private directory for the
// firmware variables (the caller removes it).
func Command(o Options, tmp string) ([]string, error) {
	disk, err := FindDisk(o.Image)
	if err != nil {
		return nil, err
	}
	arch := o.Arch
	if arch == "" {
		arch = flatcar.ArchX86_64
	}
	qemu, machine := "qemu-system-x86_64", "q35"
	if arch == flatcar.ArchARM64 {
		qemu, machine = "qemu-system-aarch64", "virt"
	}
	accel := o.Accel
	if accel == "" {
		accel = "tcg"
		if kvmUsable() {
			accel = "kvm"
		}
	}
	cpu := "max"
	if accel == "kvm" {
		cpu = "host"
	}
	mem, cpus := o.MemoryMiB, o.CPUs
	if mem <= 0 {
		mem = 2048
	}
	if cpus <= 0 {
		cpus = 2
	}
	argv := []string{qemu, "-machine", machine + ",accel=" + accel, "-cpu", cpu,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus), "-nodefaults", "-no-user-config",
		// snapshot=on: writes go to a temporary overlay QEMU deletes on
		// exit; the image itself is opened read-only.
		"-drive", "if=virtio,file=" + disk.Path + ",format=" + disk.Format + ",snapshot=on,readonly=off",
		"-device", "virtio-rng-pci",
	}
	if o.SSHPort >= 0 {
		port := o.SSHPort
		if port == 0 {
			port = DefaultSSHPort
		}
		argv = append(argv, "-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port), "-device", "virtio-net-pci,netdev=n0")
	}
	if o.Ignition != "" {
		if !isFile(o.Ignition) {
			return nil, fmt.Errorf("Ignition config %s is not a readable file", o.Ignition)
		}
		if strings.Contains(o.Ignition, ",") {
			return nil, fmt.Errorf("Ignition config path %s contains a comma, which QEMU's -fw_cfg cannot take: rename it", o.Ignition)
		}
		argv = append(argv, "-fw_cfg", "name="+FwCfgIgnition+",file="+o.Ignition)
	}
	if o.Kernel != "" {
		argv = append(argv, "-kernel", o.Kernel)
		if o.Initrd != "" {
			argv = append(argv, "-initrd", o.Initrd)
		}
		if o.Append != "" {
			argv = append(argv, "-append", o.Append)
		}
		// A kernel booted directly is a test harness: its reboot ends QEMU.
		return append(argv, "-display", "none", "-serial", "stdio", "-no-reboot"), nil
	}
	fwDir := o.FirmwareDir
	if fwDir == "" && !strings.HasPrefix(disk.Path, "/usr/") {
		if _, err := vendors.FindFirmware(arch, filepath.Dir(disk.Path)); err == nil {
			fwDir = filepath.Dir(disk.Path)
		}
	}
	fw, err := vendors.FindFirmware(arch, fwDir)
	if err != nil {
		return nil, err
	}
	vars := filepath.Join(tmp, "efi_vars")
	if err := copyFile(fw.Vars, vars); err != nil {
		return nil, fmt.Errorf("copying UEFI variables: %w", err)
	}
	format := "raw"
	if fw.Qcow2 {
		format = "qcow2"
	}
	argv = append(argv,
		"-drive", "if=pflash,unit=0,file="+fw.Code+",format="+format+",readonly=on",
		"-drive", "if=pflash,unit=1,file="+vars+",format="+format)
	if o.Console {
		return append(argv, "-display", "none", "-serial", "mon:stdio"), nil
	}
	return append(argv, "-display", "none", "-serial", "null"), nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o600)
}

// Run starts QEMU and waits for it. Cancelling ctx (Ctrl-C) stops the VM;
// the temporary firmware variables and QEMU's overlay are removed.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tmp, err := atomicfile.MkdirTemp("", "boot")
	if err != nil {
		return fmt.Errorf("making a temporary directory: %w", err)
	}
	defer atomicfile.Remove(tmp)
	argv, err := Command(o, tmp)
	if err != nil {
		return err
	}
	if _, err := child.LookPath(argv[0]); err != nil {
		return err
	}
	log.Debug("running", "cmd", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp) // QEMU's snapshot overlay goes here
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if o.SSHPort >= 0 && o.Kernel == "" {
		port := o.SSHPort
		if port == 0 {
			port = DefaultSSHPort
		}
		log.Info(fmt.Sprintf("booting %s; log in with: ssh -p %d core@127.0.0.1 (Ctrl-C stops the VM)", o.Image, port))
	}
	err = cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("QEMU exited with status %d", ee.ExitCode())
		}
		return fmt.Errorf("running QEMU: %w", err)
	}
	return nil
}
