package bake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"

	"github.com/bake-os/bake-os/partitions"
	"github.com/bake-os/bake-os/provision"
)

// oemConfigKey is where an Ignition config is baked: OEM /config.ign.
var oemConfigKey = claimKey{PartOEM, provision.OEMConfigPath}

// loadIgnition reads and validates o.IgnitionFile for Flatcar version
// (nil when none is given). The live media vendors (iso, pxe, usb) carry it
// in an extra initrd (vendors.BuildOptions.Ignition).
func loadIgnition(ctx context.Context, o Options, version string, log *slog.Logger) (*provision.Ignition, error) {
	if o.IgnitionFile == "" {
		if o.IgnitionMerge {
			return nil, errors.New("--ignition-merge needs --ignition")
		}
		return nil, nil
	}
	return provision.Load(ctx, o.IgnitionFile, version, log)
}

// installIgnition writes the plan's Ignition config into OEM. A config
// the image already holds is merged with it (IgnitionMerge), replaced
// (Force) or refuses the bake.
func installIgnition(oem partitions.Editor, ign *provision.Ignition, o Options, version string, log *slog.Logger) (*IgnitionResult, error) {
	res := &IgnitionResult{Path: provision.OEMConfigPath, Source: ign.Source}
	fi, err := oem.Stat(provision.OEMConfigPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("checking the image's OEM %s: %w", provision.OEMConfigPath, err)
	case !fi.Mode.IsRegular():
		return nil, fmt.Errorf("the image's OEM %s is not a regular file (%v): remove it from the image first", provision.OEMConfigPath, fi.Mode.Type())
	case o.IgnitionMerge:
		old, err := readOEMConfig(oem, version)
		if err != nil {
			return nil, err
		}
		if ign, err = provision.Merge(old, ign); err != nil {
			return nil, err
		}
		res.Merged = true
		log.Warn(fmt.Sprintf("merged --ignition %s into the Ignition config the image already held (OEM %s)", res.Source, provision.OEMConfigPath))
	case o.Force:
		res.Replaced = true
		log.Warn(fmt.Sprintf("replaced the Ignition config the image already held (OEM %s), as --force asks", provision.OEMConfigPath))
	default:
		return nil, fmt.Errorf("the image already holds an Ignition config (OEM %s): pass --ignition-merge to merge yours into it, or --force to replace it", provision.OEMConfigPath)
	}
	if err := oem.WriteFile(provision.OEMConfigPath, bytes.NewReader(ign.Data), 0o644); err != nil {
		return nil, fmt.Errorf("installing the Ignition config: %w", err)
	}
	sum := sha256.Sum256(ign.Data)
	res.Version, res.SHA256, res.Size, res.data = ign.Version, hex.EncodeToString(sum[:]), len(ign.Data), ign.Data
	if res.Merged {
		res.Source = ign.Source
	}
	return res, nil
}

// readOEMConfig reads and validates the config an image holds.
func readOEMConfig(oem partitions.Editor, version string) (*provision.Ignition, error) {
	r, err := oem.Open(provision.OEMConfigPath)
	if err != nil {
		return nil, fmt.Errorf("reading the image's OEM %s: %w", provision.OEMConfigPath, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, provision.MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the image's OEM %s: %w", provision.OEMConfigPath, err)
	}
	if len(data) > provision.MaxConfigSize {
		return nil, fmt.Errorf("the image's OEM %s is larger than %d MiB", provision.OEMConfigPath, provision.MaxConfigSize>>20)
	}
	name := "the image's OEM " + provision.OEMConfigPath
	v, _, err := provision.Validate(name, data, version)
	if err != nil {
		return nil, fmt.Errorf("%w (merging needs a valid config: use --force to replace it)", err)
	}
	return &provision.Ignition{Source: name, Version: v, Data: data}, nil
}
