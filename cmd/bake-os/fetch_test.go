package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// releaseTree writes a signed release (image, version.txt, oem-qemu.raw,
// each with .sig and .DIGESTS, no firmware files) and a bakery under root,
// signed by a throw-away key; it returns the public key file.
func releaseTree(t *testing.T, root string) string {
	t.Helper()
	ctx := context.Background()
	key, err := openpgp.NewEntity("bake-os test", "throw-away", "test@bake-os.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(root, "stable", "amd64-usr", "4593.2.5")
	os.MkdirAll(rel, 0o755)
	work := t.TempDir()
	img := filepath.Join(work, "flatcar_production_image.bin")
	if err := testimage.Generate(ctx, img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Bzip2(ctx, img, filepath.Join(rel, "flatcar_production_image.bin.bz2")); err != nil {
		t.Fatal(err)
	}
	vt, _ := os.ReadFile(filepath.Join(work, "version.txt"))
	os.WriteFile(filepath.Join(rel, "version.txt"), vt, 0o644)
	oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\n"
	if err := testimage.Sysext(ctx, filepath.Join(rel, "oem-qemu.raw"), "oem-qemu", oemRel, nil); err != nil {
		t.Fatal(err)
	}
	// Flatcar's optional extension zfs, published beside the image.
	zfsRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=flatcar-zfs\n"
	if err := testimage.Sysext(ctx, filepath.Join(rel, "flatcar-zfs.raw"), "flatcar-zfs", zfsRel, map[string]string{"usr/sbin/zpool": "#!/bin/sh\n"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flatcar_production_image.bin.bz2", "version.txt", "oem-qemu.raw", "flatcar-zfs.raw"} {
		data, _ := os.ReadFile(filepath.Join(rel, name))
		var sig bytes.Buffer
		if err := openpgp.DetachSign(&sig, key, bytes.NewReader(data), nil); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(rel, name+".sig"), sig.Bytes(), 0o644)
		sum := sha512.Sum512(data)
		os.WriteFile(filepath.Join(rel, name+".DIGESTS"), []byte(fmt.Sprintf("# SHA512 HASH\n%x  %s\n", sum, name)), 0o644)
	}
	bakery := filepath.Join(root, "bakery")
	os.MkdirAll(bakery, 0o755)
	if err := testimage.Sysext(ctx, filepath.Join(bakery, "ext-1.0-x86-64.raw"), "ext", "ID=_any\n", nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(bakery, "ext-1.0-x86-64.raw"))
	os.WriteFile(filepath.Join(bakery, "SHA256SUMS"), []byte(fmt.Sprintf("%x  ext-1.0-x86-64.raw\n", sha256sum(raw))), 0o644)
	var pub bytes.Buffer
	key.Serialize(&pub)
	kf := filepath.Join(work, "key.gpg")
	os.WriteFile(kf, pub.Bytes(), 0o644)
	return kf
}

// TestFetchAndBake runs the root command against a release server and a
// bakery on 127.0.0.1: a good run, then a tampered image refused with exit
// 3 and no output.
func TestFetchAndBake(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "bzip2", "debugfs", "qemu-img", "btrfs", "dd")
	root := t.TempDir()
	key := releaseTree(t, root)
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	args := []string{"--release", "4593.2.5", "--release-url", srv.URL + "/{channel}", "--signing-key", key,
		"--bakery-url", srv.URL + "/bakery", "--fetch", "--cache-dir", filepath.Join(dir, "cache"), "--output-dir", "out", "ext:ext-1.0-x86-64.raw"}
	_, stderr, code := run(t, dir, append([]string{"-v"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// -v: each HTTP request and tool run, in the one log format.
	for _, want := range []string{"bake-os: GET " + srv.URL + "/bakery/SHA256SUMS: 200 OK\n", "\nbake-os: running debugfs "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v: no %q in\n%s", want, stderr)
		}
	}
	out := filepath.Join(dir, "out", "flatcar_production_image.bin")
	if v := testutil.Run(t, "debugfs", "-R", "stat /opt/extensions/ext-1.0-x86-64.raw", fmt.Sprintf("%s?offset=%d", out, int64(12722176)*512)); !strings.Contains(v, "Type: regular") {
		t.Errorf("sysext not installed: %s", v)
	}
	os.Remove(out)

	// qemu_uefi in release mode: the OEM sysext comes from the release
	// (verified), the firmware from the distribution (the release has
	// none); the warm cache is reused.
	vargs := append([]string{"--vendor", "qemu_uefi", "--compress", "none"}, args...)
	_, stderr, code = run(t, dir, vargs...)
	if code != 0 {
		t.Fatalf("vendor run: exit %d: %s", code, stderr)
	}
	disk := filepath.Join(dir, "out", "flatcar_production_qemu_uefi_image.img")
	raw := filepath.Join(t.TempDir(), "disk.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", disk, raw)
	oem := filepath.Join(t.TempDir(), "oem.img")
	testutil.ExtractSectors(t, raw, oem, 10493952, 2097152)
	restored := t.TempDir()
	testutil.Run(t, "btrfs", "restore", oem, restored)
	if _, err := os.Stat(filepath.Join(restored, "sysext/oem-qemu-4593.2.5.raw")); err != nil {
		t.Errorf("OEM sysext from the release not installed: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(restored, "oem-release")); !strings.Contains(string(b), "ID=qemu") {
		t.Errorf("oem-release %q", b)
	}
	for _, e := range []string{"flatcar_production_qemu_uefi_image.img", "flatcar_production_qemu_uefi.sh", "flatcar_production_qemu_uefi_efi_code.qcow2", "flatcar_production_qemu_uefi_efi_vars.qcow2", "flatcar_production_qemu_uefi.README"} {
		os.Remove(filepath.Join(dir, "out", e))
	}

	// A NAME.conf the bakery serves but its SHA256SUMS does not list is
	// refused with exit 3, and nothing is baked.
	os.WriteFile(filepath.Join(root, "bakery", "ext.conf"), []byte("[Transfer]\nVerify=false\n"), 0o644)
	args[len(args)-4] = filepath.Join(dir, "cache3")
	_, stderr, code = run(t, dir, args...)
	if code != exitVerify || !strings.Contains(stderr, "ext.conf is not listed") {
		t.Errorf("unlisted conf: exit %d: %s", code, stderr)
	}
	if left := testutil.Run(t, "ls", "-A", filepath.Join(dir, "out")); left != "" {
		t.Errorf("unlisted conf: left behind: %s", left)
	}
	os.Remove(filepath.Join(root, "bakery", "ext.conf"))

	// Tamper with the image on the server: a new cache must refuse it.
	p := filepath.Join(root, "stable/amd64-usr/4593.2.5/flatcar_production_image.bin.bz2")
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 1
	os.WriteFile(p, data, 0o644)
	args[len(args)-4] = filepath.Join(dir, "cache2")
	_, stderr, code = run(t, dir, args...)
	if code != exitVerify || !strings.Contains(stderr, "flatcar_production_image.bin.bz2") {
		t.Errorf("tampered image: exit %d: %s", code, stderr)
	}
	if left := testutil.Run(t, "ls", "-A", filepath.Join(dir, "out")); left != "" {
		t.Errorf("left behind: %s", left)
	}
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }
