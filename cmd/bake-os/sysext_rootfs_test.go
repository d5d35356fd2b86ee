package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

func TestSysextRootfsCommandsHelp(t *testing.T) {
	for _, c := range []string{"flix", "flatwrap", "oci-rootfs", "torcx"} {
		out, _, code := run(t, t.TempDir(), "sysext", c, "--help")
		if code != 0 || !strings.Contains(out, "EXIT STATUS") || !strings.Contains(out, "Usage:") {
			t.Errorf("sysext %s --help: code %d\n%s", c, code, out)
		}
	}
}

func TestSysextTorcxSmoke(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	dir := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct{ name, body string }{
		{"bin/dockerd", "#!/bin/sh\n"},
		{"lib/systemd/system/docker.service", "[Unit]\nAfter=torcx.target\n[Service]\nExecStart=/usr/bin/dockerd\n"},
		{".torcx/manifest.json", "{}"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	if err := os.WriteFile(filepath.Join(dir, "docker.tar"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, dir, "sysext", "torcx", "docker.tar", "docker", "--os", "flatcar", "--arch", "amd64")
	if code != 0 {
		t.Fatalf("torcx: code %d: %s", code, errOut)
	}
	img := filepath.Join(dir, "docker.raw")
	if strings.TrimSpace(out) != img {
		t.Errorf("stdout %q, want %q", out, img)
	}
	list := testutil.Run(t, "unsquashfs", "-l", img)
	for _, want := range []string{"usr/bin/dockerd", "usr/lib/systemd/system/docker.service", "extension-release.docker"} {
		if !strings.Contains(list, want) {
			t.Errorf("image lacks %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, ".torcx") {
		t.Errorf("image keeps .torcx:\n%s", list)
	}
}

func TestSysextRootfsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"sysext", "oci-rootfs", "--arch", "mips", "img", "dir"},
		{"sysext", "flatwrap", "--etc-map", "both", "root", "name", "/usr/bin/x"},
		{"sysext", "flix", "root", "name"},
		{"sysext", "torcx", "--format", "zip", "t.tgz", "name"},
	} {
		if _, errOut, code := run(t, t.TempDir(), args...); code != exitUsage {
			t.Errorf("%v: code %d, want %d (%s)", args, code, exitUsage, errOut)
		}
	}
}
