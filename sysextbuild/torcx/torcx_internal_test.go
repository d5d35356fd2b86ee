package torcx

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sysextbuild"
	"github.com/bake-os/bake-os/sysextbuild/rootfs"
	"github.com/bake-os/bake-os/sysextbuild/rootfs/rootfstest"
)

const torcxDockerService = `[Unit]
Description=Docker Application Container Engine
After=containerd.service docker.socket network-online.target torcx.target
Requires=torcx.target
Wants=network-online.target

[Service]
EnvironmentFile=/run/metadata/torcx
Environment=TORCX_IMAGEDIR=/docker
Type=notify
ExecStart=${TORCX_BINDIR}/dockerd --host=fd://

[Install]
WantedBy=multi-user.target
`

const torcxDockerServiceWant = `[Unit]
Description=Docker Application Container Engine
After=containerd.service docker.socket network-online.target
Wants=network-online.target

[Service]
Environment=TORCX_BINDIR=/usr/bin
Environment=TORCX_UNPACKDIR=/
Environment=TORCX_IMAGEDIR=
Type=notify
ExecStart=${TORCX_BINDIR}/dockerd --host=fd://

[Install]
WantedBy=multi-user.target
`

func makeTorcxTarball(t *testing.T, extra ...rootfstest.TarEnt) string {
	t.Helper()
	ents := append([]rootfstest.TarEnt{
		{Name: ".torcx/", Typ: tar.TypeDir},
		{Name: ".torcx/manifest.json", Body: "{}"},
		{Name: "bin/", Typ: tar.TypeDir},
		{Name: "bin/dockerd", Body: "#!/bin/sh\n", Mode: 0o755},
		{Name: "bin/docker", Body: "#!/bin/sh\n", Mode: 0o755},
		{Name: "lib/", Typ: tar.TypeDir},
		{Name: "lib/systemd/", Typ: tar.TypeDir},
		{Name: "lib/systemd/system/", Typ: tar.TypeDir},
		{Name: "lib/systemd/system/docker.service", Body: torcxDockerService},
		{Name: "lib/systemd/system/docker.socket", Body: "[Unit]\nAfter=torcx.target\n[Socket]\nListenStream=/run/docker.sock\n"},
		{Name: "lib/systemd/system/multi-user.target.wants/", Typ: tar.TypeDir},
		{Name: "lib/systemd/system/multi-user.target.wants/docker.service", Typ: tar.TypeSymlink, Link: "../docker.service"},
		{Name: "lib/systemd/system/sockets.target.wants/", Typ: tar.TypeDir},
		{Name: "lib/systemd/system/sockets.target.wants/docker.socket", Typ: tar.TypeSymlink, Link: "../docker.socket"},
	}, extra...)
	p := filepath.Join(t.TempDir(), "docker.torcx.tgz")
	rootfstest.Must(t, os.WriteFile(p, rootfstest.Gzip(t, rootfstest.MakeTar(t, ents)), 0o644))
	return p
}

func TestTorcxTree(t *testing.T) {
	tree := filepath.Join(t.TempDir(), "docker")
	if err := buildTorcxTree(context.Background(), Options{Tarball: makeTorcxTarball(t), Name: "docker"}, tree); err != nil {
		t.Fatal(err)
	}
	var got []string
	rootfstest.Must(t, filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		if !fi.IsDir() {
			got = append(got, rel)
		}
		return nil
	}))
	sort.Strings(got)
	want := []string{
		"usr/bin/docker",
		"usr/bin/dockerd",
		"usr/lib/systemd/system/docker.service",
		"usr/lib/systemd/system/docker.socket",
		"usr/lib/systemd/system/multi-user.target.d/10-docker-service.conf",
		"usr/lib/systemd/system/multi-user.target.wants/docker.service",
		"usr/lib/systemd/system/sockets.target.d/10-docker-socket.conf",
		"usr/lib/systemd/system/sockets.target.wants/docker.socket",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(tree, rel))
		rootfstest.Must(t, err)
		return string(b)
	}
	if s := read("usr/lib/systemd/system/docker.service"); s != torcxDockerServiceWant {
		t.Errorf("docker.service:\n%s\nwant:\n%s", s, torcxDockerServiceWant)
	}
	if s := read("usr/lib/systemd/system/docker.socket"); s != "[Unit]\n[Socket]\nListenStream=/run/docker.sock\n" {
		t.Errorf("docker.socket:\n%s", s)
	}
	if s := read("usr/lib/systemd/system/multi-user.target.d/10-docker-service.conf"); s != "[Unit]\nUpholds=docker.service\n" {
		t.Errorf("drop-in:\n%s", s)
	}
	if fi, err := os.Stat(filepath.Join(tree, "usr/bin/dockerd")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("dockerd mode: %v %v", fi, err)
	}
}

func TestTorcxRefusesEscapes(t *testing.T) {
	tb := makeTorcxTarball(t, rootfstest.TarEnt{Name: "../../evil", Body: "x"})
	err := buildTorcxTree(context.Background(), Options{Tarball: tb, Name: "docker"}, filepath.Join(t.TempDir(), "docker"))
	if !errors.Is(err, rootfs.ErrPathEscapes) {
		t.Errorf("error %v, want rootfs.ErrPathEscapes", err)
	}
}

func TestTorcxPacked(t *testing.T) {
	testutil.RequireTool(t, "mksquashfs", "unsquashfs")
	out := t.TempDir()
	res, err := Build(context.Background(), Options{Tarball: makeTorcxTarball(t), Name: "docker",
		Pack: sysextbuild.PackOptions{Output: filepath.Join(out, "docker.raw"), OS: "flatcar"}})
	if err != nil {
		t.Fatal(err)
	}
	unpacked := filepath.Join(t.TempDir(), "x")
	testutil.Run(t, "unsquashfs", "-no-xattrs", "-d", unpacked, res.Output)
	rel, err := os.ReadFile(filepath.Join(unpacked, "usr/lib/extension-release.d/extension-release.docker"))
	rootfstest.Must(t, err)
	if !strings.Contains(string(rel), "EXTENSION_RELOAD_MANAGER=1") || !strings.Contains(string(rel), "ID=flatcar") {
		t.Errorf("extension-release:\n%s", rel)
	}
	if _, err := os.Stat(filepath.Join(unpacked, "usr/lib/systemd/system/sockets.target.d/10-docker-socket.conf")); err != nil {
		t.Error(err)
	}
}
