package recipe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// seedCases are the recipes of the seed's table, each served by a fake
// upstream with the real artefact layout and checksum files.
func seedCases(t *testing.T) []recipeCase {
	dockerBins := []string{"docker", "dockerd", "docker-init", "docker-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc"}
	serveDocker := func(t *testing.T, m *mirror) {
		ents := []fakeEntry{{Name: "docker/"}}
		for _, b := range dockerBins {
			ents = append(ents, fakeEntry{Name: "docker/" + b, Mode: 0o755, Body: fakeBin(b)})
		}
		m.put("https://download.docker.com/linux/static/stable/x86_64/docker-27.3.1.tgz", tarGz(t, ents...))
	}
	dockerFiles := func(without string) map[string]string {
		files := staticFiles(t, "docker")
		for _, b := range dockerBins {
			files["usr/bin/"+b] = exe
		}
		var drop []string
		switch without {
		case "docker":
			drop = []string{"usr/bin/docker", "usr/lib/systemd/system/docker", "usr/lib/systemd/system/sockets.target.d"}
		case "containerd":
			drop = []string{"usr/bin/containerd", "usr/bin/ctr", "usr/bin/runc", "usr/lib/systemd/system/containerd.service",
				"usr/lib/systemd/system/multi-user.target.d", "usr/share/containerd"}
		}
		for p := range files {
			for _, d := range drop {
				if strings.HasPrefix(p, d) {
					delete(files, p)
				}
			}
		}
		return files
	}

	serveKube := func(t *testing.T, m *mirror) {
		for _, b := range []string{"kubectl", "kubeadm", "kubelet"} {
			u := "https://dl.k8s.io/v1.32.1/bin/linux/arm64/" + b
			body := []byte(fakeBin(b))
			m.put(u, body)
			m.put(u+".sha256", []byte(sum256(body))) // bare hex, as dl.k8s.io serves it
		}
		cni := "https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-arm64-v1.6.2.tgz"
		m.putWithSum(cni, tarGz(t,
			fakeEntry{Name: "./"},
			fakeEntry{Name: "./bridge", Mode: 0o755, Body: fakeBin("bridge")},
			fakeEntry{Name: "./host-local", Mode: 0o755, Body: fakeBin("host-local")},
			fakeEntry{Name: "./LICENSE", Mode: 0o644, Body: "Apache-2.0\n"},
		), cni+".sha256")
		m.put("https://api.github.com/repos/containernetworking/plugins/releases/latest", jsonOf(map[string]string{"tag_name": "v1.6.2"}))
	}

	serveWasmcloud := func(version, bin string) func(t *testing.T, m *mirror) {
		return func(t *testing.T, m *mirror) {
			m.put("https://github.com/wasmcloud/wasmcloud/releases/download/"+version+"/"+bin+"-x86_64-unknown-linux-musl", []byte(fakeBin(bin)))
			m.put("https://github.com/nats-io/nats-server/releases/download/v2.10.22/nats-server-v2.10.22-linux-amd64.tar.gz", tarGz(t,
				fakeEntry{Name: "nats-server-v2.10.22-linux-amd64/"},
				fakeEntry{Name: "nats-server-v2.10.22-linux-amd64/README.md", Body: "nats\n"},
				fakeEntry{Name: "nats-server-v2.10.22-linux-amd64/nats-server", Mode: 0o755, Body: fakeBin("nats-server")},
			))
			m.put("https://api.github.com/repos/nats-io/nats-server/releases/latest", jsonOf(map[string]string{"tag_name": "v2.10.22"}))
		}
	}

	serveOllama := func(version, ext string) func(t *testing.T, m *mirror) {
		return func(t *testing.T, m *mirror) {
			ents := []fakeEntry{
				{Name: "./"}, {Name: "./bin/"},
				{Name: "./bin/ollama", Mode: 0o700, Body: fakeBin("ollama")},
				{Name: "./lib/ollama/"},
				{Name: "./lib/ollama/libggml-base.so", Mode: 0o755, Body: "elf\n"},
			}
			var body []byte
			if ext == "tgz" {
				body = tarGz(t, ents...)
			} else {
				body = tarZst(t, ents...)
			}
			base := "https://github.com/ollama/ollama/releases/download/" + version + "/"
			m.put(base+"ollama-linux-amd64."+ext, body)
			m.put(base+"sha256sum.txt", []byte(
				sum256([]byte("other"))+"  ./ollama-linux-arm64."+ext+"\n"+
					sum256(body)+"  ./ollama-linux-amd64."+ext+"\n"))
		}
	}
	ollamaFiles := merge(staticFiles(t, "ollama"), map[string]string{
		"usr/local/bin/ollama": exe, "usr/local/lib/ollama/libggml-base.so": exe,
	})

	return []recipeCase{
		{
			name:  "kubernetes",
			o:     CreateOptions{Recipe: "kubernetes", Version: "v1.32.1", Arch: flatcar.ArchARM64, Sysupdate: true},
			serve: serveKube,
			files: merge(staticFiles(t, "kubernetes"), map[string]string{
				"usr/bin/kubectl": exe, "usr/bin/kubeadm": exe, "usr/bin/kubelet": exe,
				"usr/local/bin/cni/bridge": exe, "usr/local/bin/cni/host-local": exe, "usr/local/bin/cni/LICENSE": file,
				"usr/local/share/kubernetes-version": file, "usr/local/share/kubernetes-cni-version": file,
				"usr/libexec/kubernetes/kubelet-plugins/volume/exec": "->/var/kubernetes/kubelet-plugins/volume/exec",
			}),
			contents: map[string]string{
				"usr/bin/kubelet":                                                    "fake kubelet",
				"usr/local/share/kubernetes-version":                                 "v1.32.1\n",
				"usr/local/share/kubernetes-cni-version":                             "v1.6.2\n",
				"usr/lib/systemd/system/multi-user.target.d/10-kubelet-service.conf": "Upholds=kubelet.service",
			},
			output: "kubernetes-v1.32.1-arm64.raw",
			beside: []string{"kubernetes.conf", "kubernetes-v1.32.conf", "SHA256SUMS.kubernetes"},
		},
		{
			name:  "docker",
			o:     CreateOptions{Recipe: "docker", Version: "27.3.1"},
			serve: serveDocker,
			files: dockerFiles(""),
			contents: map[string]string{
				"usr/bin/dockerd": "fake dockerd",
				"usr/lib/systemd/system/sockets.target.d/10-docker-socket.conf": "Upholds=docker.socket",
			},
			output: "docker-27.3.1-x86-64.raw",
		},
		{
			name:   "docker-without-containerd",
			o:      CreateOptions{Recipe: "docker", Version: "27.3.1", Without: []string{"containerd"}, Name: "docker-only"},
			serve:  serveDocker,
			files:  dockerFiles("containerd"),
			output: "docker-only-27.3.1-x86-64.raw",
		},
		{
			name:   "docker-ONLY_CONTAINERD",
			o:      CreateOptions{Recipe: "docker", Version: "27.3.1"},
			env:    map[string]string{"ONLY_CONTAINERD": "1"},
			serve:  serveDocker,
			files:  dockerFiles("docker"),
			output: "docker-27.3.1-x86-64.raw",
		},
		{
			name: "docker_compose",
			o:    CreateOptions{Recipe: "docker_compose", Version: "2.24.5"},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://github.com/docker/compose/releases/download/v2.24.5/docker-compose-linux-x86_64", []byte(fakeBin("compose")))
			},
			files:    map[string]string{"usr/local/lib/docker/cli-plugins/docker-compose": exe},
			contents: map[string]string{"usr/local/lib/docker/cli-plugins/docker-compose": "fake compose"},
			output:   "docker_compose-2.24.5-x86-64.raw",
		},
		{
			name: "wasmtime",
			o:    CreateOptions{Recipe: "wasmtime", Version: "24.0.0"},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://github.com/bytecodealliance/wasmtime/releases/download/v24.0.0/wasmtime-v24.0.0-x86_64-linux.tar.xz", tarXz(t,
					fakeEntry{Name: "wasmtime-v24.0.0-x86_64-linux/"},
					fakeEntry{Name: "wasmtime-v24.0.0-x86_64-linux/wasmtime", Mode: 0o755, Body: fakeBin("wasmtime")},
					fakeEntry{Name: "wasmtime-v24.0.0-x86_64-linux/LICENSE", Body: "Apache\n"},
				))
			},
			files:    map[string]string{"usr/bin/wasmtime": exe},
			contents: map[string]string{"usr/bin/wasmtime": "fake wasmtime"},
			output:   "wasmtime-24.0.0-x86-64.raw",
		},
		{
			name:     "wasmcloud-v1",
			o:        CreateOptions{Recipe: "wasmcloud", Version: "v1.2.1"},
			serve:    serveWasmcloud("v1.2.1", "wasmcloud"),
			files:    merge(staticFiles(t, "wasmcloud"), map[string]string{"usr/bin/wasmcloud": exe, "usr/bin/nats-server": exe}),
			contents: map[string]string{"usr/lib/systemd/system/multi-user.target.d/10-wasmcloud-service.conf": "Upholds=wasmcloud.service"},
			output:   "wasmcloud-v1.2.1-x86-64.raw",
		},
		{
			name:  "wasmcloud-v2-wash",
			o:     CreateOptions{Recipe: "wasmcloud", Version: "v2.0.0", Options: map[string]string{"nats": "v2.10.22"}},
			serve: serveWasmcloud("v2.0.0", "wash"),
			files: merge(staticFiles(t, "wasmcloud", "usr/lib/systemd/system/wasmcloud.service",
				"usr/lib/systemd/system/multi-user.target.d/10-wasmcloud"), map[string]string{"usr/bin/wash": exe, "usr/bin/nats-server": exe}),
			output: "wasmcloud-v2.0.0-x86-64.raw",
		},
		{
			name: "tailscale",
			o:    CreateOptions{Recipe: "tailscale", Version: "v1.76.1"},
			serve: func(t *testing.T, m *mirror) {
				d := "tailscale_1.76.1_amd64/"
				m.put("https://pkgs.tailscale.com/stable/tailscale_1.76.1_amd64.tgz", tarGz(t,
					fakeEntry{Name: d},
					fakeEntry{Name: d + "tailscale", Mode: 0o755, Body: fakeBin("tailscale")},
					fakeEntry{Name: d + "tailscaled", Mode: 0o755, Body: fakeBin("tailscaled")},
					fakeEntry{Name: d + "systemd/"},
					fakeEntry{Name: d + "systemd/tailscaled.service", Body: "[Service]\nExecStart=/usr/sbin/tailscaled --state=/var/lib/tailscale/tailscaled.state --port=${PORT}\nExecStopPost=/usr/sbin/tailscaled --cleanup\n"},
					fakeEntry{Name: d + "systemd/tailscaled.defaults", Body: "PORT=\"41641\"\n"},
				))
			},
			files: merge(staticFiles(t, "tailscale"), map[string]string{
				"usr/bin/tailscale": exe, "usr/bin/tailscaled": exe,
				"usr/lib/systemd/system/tailscaled.service": file, "usr/share/tailscale/tailscaled.defaults": file,
			}),
			contents: map[string]string{
				"usr/lib/systemd/system/tailscaled.service": "ExecStart=/usr/bin/tailscaled --state",
				"usr/lib/tmpfiles.d/10-tailscale.conf":      "/etc/default/tailscaled",
			},
			output: "tailscale-v1.76.1-x86-64.raw",
		},
		{
			name: "crio",
			o:    CreateOptions{Recipe: "crio", Version: "v1.31.1"},
			serve: func(t *testing.T, m *mirror) {
				script := `#!/usr/bin/env bash
set -euo pipefail
# upstream edits its own unit paths in place; these lines are dropped
sed -i 's;/usr/local/bin;'"$DESTDIR$PREFIX"'/bin;g' "$DESTDIR/does/not/exist"
install -D -m 755 -t "$DESTDIR$PREFIX/bin" bin/crio bin/conmon bin/crictl
install -D -m 755 -t "$DESTDIR$OPT_CNI_BIN_DIR" cni-plugins/bridge
install -D -m 644 -t "$DESTDIR$CNIDIR" contrib/11-crio-ipv4-bridge.conflist
install -D -m 644 -t "$DESTDIR$ETCDIR/crio" etc/crio.conf
install -D -m 644 -t "$DESTDIR$ETCDIR" etc/crictl.yaml
install -D -m 644 -t "$DESTDIR$OCIDIR" etc/crio-umount.conf
install -D -m 644 -t "$DESTDIR$PREFIX/lib/systemd/system" contrib/crio.service
install -D -m 644 -t "$DESTDIR$BASHINSTALLDIR" completions/bash/crio
install -D -m 644 -t "$DESTDIR$MANDIR/man8" docs/crio.8
`
				m.put("https://storage.googleapis.com/cri-o/artifacts/cri-o.amd64.v1.31.1.tar.gz", tarGz(t,
					fakeEntry{Name: "cri-o/"},
					fakeEntry{Name: "cri-o/install", Mode: 0o755, Body: script},
					fakeEntry{Name: "cri-o/bin/crio", Mode: 0o755, Body: fakeBin("crio")},
					fakeEntry{Name: "cri-o/bin/conmon", Mode: 0o755, Body: fakeBin("conmon")},
					fakeEntry{Name: "cri-o/bin/crictl", Mode: 0o755, Body: fakeBin("crictl")},
					fakeEntry{Name: "cri-o/cni-plugins/bridge", Mode: 0o755, Body: fakeBin("bridge")},
					fakeEntry{Name: "cri-o/contrib/11-crio-ipv4-bridge.conflist", Body: "{}\n"},
					fakeEntry{Name: "cri-o/contrib/crio.service", Body: "[Service]\nExecStart=/usr/local/bin/crio\n"},
					fakeEntry{Name: "cri-o/etc/crio.conf", Body: "[crio]\n# upstream defaults\n"},
					fakeEntry{Name: "cri-o/etc/crictl.yaml", Body: "runtime-endpoint: unix:///var/run/crio/crio.sock\n"},
					fakeEntry{Name: "cri-o/etc/crio-umount.conf", Body: "/var/lib/containers/storage/*\n"},
					fakeEntry{Name: "cri-o/completions/bash/crio", Body: "complete -F _crio crio\n"},
					fakeEntry{Name: "cri-o/docs/crio.8", Body: ".TH CRIO 8\n"},
				))
			},
			files: merge(staticFiles(t, "crio"), map[string]string{
				"usr/bin/crio": exe, "usr/bin/conmon": exe, "usr/bin/crictl": exe,
				"usr/share/crio/cni/bin/bridge":                             exe,
				"usr/share/crio/cni/etc/net.d/11-crio-ipv4-bridge.conflist": file,
				"usr/share/crio/etc/crictl.yaml":                            file,
				"usr/share/oci-umount/oci-umount.d/crio-umount.conf":        file,
				"usr/lib/systemd/system/crio.service":                       file,
			}),
			contents: map[string]string{
				"usr/share/crio/etc/crio/crio.conf":                       "upstream defaults",
				"usr/lib/systemd/system/crio.service.d/10-crio.conf":      "--config-dir /etc/crio/crio.conf.d/",
				"usr/lib/systemd/system/multi-user.target.d/10-crio.conf": "Upholds=crio.service",
			},
			output: "crio-v1.31.1-x86-64.raw",
		},
		{
			name: "k3s",
			o:    CreateOptions{Recipe: "k3s", Version: "v1.32.2+k3s1", Arch: flatcar.ArchARM64, Sysupdate: true},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://github.com/k3s-io/k3s/releases/download/v1.32.2+k3s1/k3s-arm64", []byte(fakeBin("k3s")))
			},
			files: merge(staticFiles(t, "k3s"), map[string]string{
				"usr/local/bin/k3s": exe, "usr/local/bin/kubectl": "->./k3s", "usr/local/bin/ctr": "->./k3s", "usr/local/bin/crictl": "->./k3s",
			}),
			contents: map[string]string{"usr/local/lib/systemd/system/k3s-agent.service": "ExecStart=/usr/local/bin/k3s agent"},
			output:   "k3s-v1.32.2+k3s1-arm64.raw",
			beside:   []string{"k3s.conf", "k3s-v1.32.conf"},
		},
		{
			name: "rke2",
			o:    CreateOptions{Recipe: "rke2", Version: "v1.32.2+rke2r1"},
			serve: func(t *testing.T, m *mirror) {
				base := "https://github.com/rancher/rke2/releases/download/v1.32.2+rke2r1/"
				tgz := tarGz(t,
					fakeEntry{Name: "bin/"},
					fakeEntry{Name: "bin/rke2", Mode: 0o755, Body: fakeBin("rke2")},
					fakeEntry{Name: "bin/rke2-killall.sh", Mode: 0o755, Body: fakeBin("killall")},
					fakeEntry{Name: "bin/rke2-uninstall.sh", Mode: 0o755, Body: fakeBin("uninstall")},
					fakeEntry{Name: "lib/systemd/system/rke2-server.service", Body: "[Service]\nExecStart=/usr/local/bin/rke2 server\n"},
					fakeEntry{Name: "lib/systemd/system/rke2-agent.service", Body: "[Service]\nExecStart=/usr/local/bin/rke2 agent\n"},
					fakeEntry{Name: "share/rke2/rke2-cis-sysctl.conf", Body: "vm.panic_on_oom=0\n"},
				)
				m.put(base+"rke2.linux-amd64.tar.gz", tgz)
				m.put(base+"sha256sum-amd64.txt", []byte(
					sum256([]byte("images"))+"  rke2-images.linux-amd64.tar.zst\n"+
						sum256(tgz)+"  rke2.linux-amd64.tar.gz\n"))
			},
			files: map[string]string{
				"usr/local/bin/rke2": exe, "usr/local/bin/rke2-killall.sh": exe,
				"usr/local/lib/systemd/system/rke2-server.service": file, "usr/local/lib/systemd/system/rke2-agent.service": file,
				"usr/local/share/rke2/rke2-cis-sysctl.conf": file,
			},
			output: "rke2-v1.32.2+rke2r1-x86-64.raw",
		},
		{
			name:   "ollama-tgz",
			o:      CreateOptions{Recipe: "ollama", Version: "v0.3.9"},
			serve:  serveOllama("v0.3.9", "tgz"),
			files:  ollamaFiles,
			output: "ollama-v0.3.9-x86-64.raw",
		},
		{
			name:     "ollama-zst",
			o:        CreateOptions{Recipe: "ollama", Version: "v0.14.1"},
			serve:    serveOllama("v0.14.1", "tar.zst"),
			files:    ollamaFiles,
			contents: map[string]string{"usr/local/bin/ollama": "fake ollama"},
			output:   "ollama-v0.14.1-x86-64.raw",
		},
		keepalivedCase(t),
	}
}

// keepalivedCase runs the container build through a fake docker that
// answers `docker info` and, for `docker run`, writes what the real
// build.sh installs (keepalived in usr/sbin) into the mounted dir.
func keepalivedCase(t *testing.T) recipeCase {
	bin := t.TempDir()
	fake := filepath.Join(bin, "docker")
	script := `#!/bin/sh
log="$(dirname "$0")/calls"
echo "$*" >> "$log"
case "$1" in
info) exit 0 ;;
run)
  while [ $# -gt 0 ]; do
    if [ "$1" = -v ]; then dir="${2%%:*}"; fi
    shift
  done
  test -x "$dir/build.sh" || exit 3
  mkdir -p "$dir/usr/sbin" "$dir/usr/bin" "$dir/usr/etc/keepalived"
  printf '#!/bin/sh\necho keepalived\n' > "$dir/usr/sbin/keepalived"
  chmod 0755 "$dir/usr/sbin/keepalived"
  printf '#!/bin/sh\n' > "$dir/usr/bin/genhash"
  chmod 0755 "$dir/usr/bin/genhash"
  printf 'global_defs {}\n' > "$dir/usr/etc/keepalived/keepalived.conf"
  exit 0 ;;
esac
exit 1
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return recipeCase{
		name:  "keepalived",
		o:     CreateOptions{Recipe: "keepalived", Version: "v2.3.1", Engines: []string{fake}},
		serve: func(t *testing.T, m *mirror) {},
		files: merge(staticFiles(t, "keepalived"), map[string]string{
			"usr/bin/keepalived": exe, "usr/bin/genhash": exe, "usr/etc/keepalived/keepalived.conf": file,
		}),
		contents: map[string]string{"usr/bin/keepalived": "echo keepalived"},
		output:   "keepalived-v2.3.1-x86-64.raw",
	}
}
