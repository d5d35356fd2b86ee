package vendors

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// writeOVA writes an .ova: a ustar archive whose first member is the OVF
// descriptor, then the vmdk, then the manifest (.mf) with one
// "SHA1(name)= hex" line per member, as OVF 1.x requires.
func writeOVA(ctx context.Context, dst io.Writer, base string, ovf []byte, vmdkName, vmdkPath string) error {
	ovfName, mfName := base+".ovf", base+".mf"
	ovfHash, vmdkHash := sha1.New(), sha1.New()
	tw := newStreamTar(dst)
	if err := tw.add(ctx, tarMember{Name: ovfName, Data: ovf, Hash: ovfHash}); err != nil {
		return err
	}
	if err := tw.add(ctx, tarMember{Name: vmdkName, Path: vmdkPath, Hash: vmdkHash}); err != nil {
		return err
	}
	mf := fmt.Sprintf("SHA1(%s)= %s\nSHA1(%s)= %s\n",
		ovfName, hex.EncodeToString(ovfHash.Sum(nil)), vmdkName, hex.EncodeToString(vmdkHash.Sum(nil)))
	if err := tw.add(ctx, tarMember{Name: mfName, Data: []byte(mf)}); err != nil {
		return err
	}
	return tw.close()
}

// ovaBundle writes the .ova around a stream-optimized vmdk.
type ovaBundle struct{}

func (ovaBundle) Name() string { return "ova" }

func (ovaBundle) Files() []bundleFile { return []bundleFile{{Role: roleMain, Kind: "archive"}} }

func (ovaBundle) Build(ctx context.Context, c *bundleContext) error {
	stem := c.stem()
	vmdkName := stem + "_image.vmdk"
	vmdk, ovf, err := workDiskWithOVF(ctx, c, vmdkName, true)
	if err != nil {
		return err
	}
	defer os.Remove(vmdk)
	return c.writeTo(roleMain, func(f *os.File) error {
		return writeOVA(ctx, f, stem, ovf, vmdkName, vmdk)
	})
}
