package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/testimage"
	"github.com/bake-os/bake-os/vendors"
)

type demoOptions struct {
	dir     string
	vendors []string
}

func (o *demoOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dir, "dir", "demo-out", "work directory (input/ and output/)")
	fs.StringSliceVar(&o.vendors, "vendor", []string{"qemu_uefi"}, "vendor images besides the generic one")
}

func newDemoCmd(d *deps) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate a Flatcar-layout image, bake a sample sysext, inspect it",
		Long: `demo runs the whole bake on an embedded default: it generates a sparse
Flatcar-layout disk image (the exact partition table of
flatcar_production_image.bin, with real filesystems) and its .bin.bz2, a
sample "hello" sysext with a sysupdate config and a qemu OEM sysext, bakes
the sysext into ROOT with docker masked, writes the generic image and the
qemu_uefi vendor image, and prints "bake-os inspect" of the result.` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, o, d) },
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runDemo(cmd *cobra.Command, o *demoOptions, d *deps) error {
	ctx := cmd.Context()
	dir := absPath(d.cwd, o.dir)
	in, out := filepath.Join(dir, "input"), filepath.Join(dir, "output")
	for _, p := range []string{in, out} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	raw := filepath.Join(in, bake.ImageName)
	d.logger().Info("generating Flatcar-layout image " + raw + ".bz2")
	if err := testimage.Generate(ctx, raw, testimage.Options{}); err != nil {
		return err
	}
	if err := testimage.Bzip2(ctx, raw, raw+".bz2"); err != nil {
		return err
	}
	if err := os.Remove(raw); err != nil {
		return err
	}
	ext, err := demoSysext(cmd, in)
	if err != nil {
		return err
	}
	var vs []vendors.Vendor
	if len(o.vendors) > 0 && o.vendors[0] != "" {
		if vs, err = vendors.ParseForArch(append([]string{vendors.GenericName}, o.vendors...), flatcar.ArchX86_64); err != nil {
			return usageError{err}
		}
		oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\n" +
			"SYSEXT_VERSION_ID=4593.2.5\nSYSEXT_BUG_REPORT_URL='https://issues.flatcar.org'\n"
		if err := testimage.Sysext(ctx, filepath.Join(in, "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
			return err
		}
	}
	d.logger().Info("baking " + ext + " into ROOT")
	res, err := bake.Run(ctx, bake.Options{
		Image: raw + ".bz2", OutputDir: out, Arch: flatcar.ArchX86_64,
		Sysexts:       []bake.Sysext{{Name: "hello", File: ext, Conf: filepath.Join(in, "hello.conf")}},
		Masks:         []string{"docker-flatcar", "containerd-flatcar"},
		Vendors:       vs,
		VendorOptions: vendors.BuildOptions{Compress: "none"},
		Force:         true, // the demo's own directory
		Reporter:      d.reporter(ctx), Logger: d.logger(),
	})
	if err != nil {
		return err
	}
	image := res.Image
	for _, a := range res.Artifacts {
		d.logger().Info(fmt.Sprintf("wrote %s (%s, %s)", a.Path, a.Vendor, a.Kind))
		if a.Vendor == vendors.GenericName && a.Kind == "disk" {
			image = a.Path
		}
	}
	return runInspect(cmd, &inspectOptions{json: d.g.json}, d, image)
}

// demoSysext packs a small "hello" sysext with a sysupdate config.
func demoSysext(cmd *cobra.Command, dir string) (string, error) {
	tree := filepath.Join(dir, "hello-tree")
	bin := filepath.Join(tree, "usr/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(bin, "hello"), []byte("#!/bin/sh\necho 'hello from a baked sysext'\n"), 0o755); err != nil {
		return "", err
	}
	raw := filepath.Join(dir, "hello-1.0.0-x86-64.raw")
	if _, err := sysextbuild.Pack(cmd.Context(), sysextbuild.PackOptions{
		Dir: tree, Name: "hello", OS: "flatcar", Arch: flatcar.ArchX86_64, Output: raw,
	}); err != nil {
		return "", err
	}
	conf := `[Transfer]
Verify=false

[Source]
Type=url-file
Path=https://extensions.example.org/extensions/hello/
MatchPattern=hello-@v-%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path=/opt/extensions/hello
CurrentSymlink=/etc/extensions/hello.raw
`
	if err := os.WriteFile(filepath.Join(dir, "hello.conf"), []byte(conf), 0o644); err != nil {
		return "", err
	}
	return raw, nil
}
