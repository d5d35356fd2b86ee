package recipe

import (
	"strings"
	"testing"

	"github.com/bake-os/bake-os/flatcar"
)

func TestCreateMoreRecipes(t *testing.T) {
	for _, c := range moreCases(t) {
		t.Run(c.name, func(t *testing.T) { runRecipeCase(t, c) })
	}
}

// moreCases cover the binary recipes beyond the seed ones.
func moreCases(t *testing.T) []recipeCase {
	gh := "https://github.com/"
	cniURL := gh + "containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-amd64-v1.6.2.tgz"
	serveCNI := func(t *testing.T, m *mirror) {
		m.putWithSum(cniURL, tarGz(t, fakeEntry{Name: "./"}, fakeEntry{Name: "./bridge", Mode: 0o755, Body: fakeBin("bridge")}), cniURL+".sha256")
	}
	return []recipeCase{
		{
			name: "cilium",
			o:    CreateOptions{Recipe: "cilium", Version: "v0.16.20"},
			serve: func(t *testing.T, m *mirror) {
				u := gh + "cilium/cilium-cli/releases/download/v0.16.20/cilium-linux-amd64.tar.gz"
				m.putWithSum(u, tarGz(t, fakeEntry{Name: "cilium", Mode: 0o644, Body: fakeBin("cilium")}), u+".sha256sum")
			},
			files:  merge(staticFiles(t, "cilium"), map[string]string{"usr/local/bin/cilium": exe}),
			output: "cilium-v0.16.20-x86-64.raw",
		},
		{
			name: "cloud-hypervisor",
			o:    CreateOptions{Recipe: "cloud-hypervisor", Version: "v43.0", Arch: flatcar.ArchARM64},
			serve: func(t *testing.T, m *mirror) {
				b := gh + "cloud-hypervisor/cloud-hypervisor/releases/download/v43.0/"
				m.put(b+"cloud-hypervisor-static-aarch64", []byte(fakeBin("ch")))
				m.put(b+"ch-remote-static-aarch64", []byte(fakeBin("ch-remote")))
			},
			files:  map[string]string{"usr/bin/cloud-hypervisor": exe, "usr/bin/ch-remote": exe},
			output: "cloud-hypervisor-v43.0-arm64.raw",
		},
		{
			name: "coder",
			o:    CreateOptions{Recipe: "coder", Version: "v2.17.2"},
			serve: func(t *testing.T, m *mirror) {
				b := gh + "coder/coder/releases/download/v2.17.2/"
				tgz := tarGz(t, fakeEntry{Name: "LICENSE", Body: "AGPL\n"}, fakeEntry{Name: "README.md", Body: "coder\n"}, fakeEntry{Name: "coder", Mode: 0o755, Body: fakeBin("coder")})
				m.put(b+"coder_2.17.2_linux_amd64.tar.gz", tgz)
				m.put(b+"coder_2.17.2_checksums.txt", []byte(sum256([]byte("x"))+"  coder_2.17.2_linux_arm64.tar.gz\n"+sum256(tgz)+"  coder_2.17.2_linux_amd64.tar.gz\n"))
			},
			files:  merge(staticFiles(t, "coder"), map[string]string{"usr/bin/coder": exe}),
			output: "coder-v2.17.2-x86-64.raw",
		},
		{
			name: "consul",
			o:    CreateOptions{Recipe: "consul", Version: "1.20.1"},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://releases.hashicorp.com/consul/1.20.1/consul_1.20.1_linux_amd64.zip",
					zipOf(t, fakeEntry{Name: "consul", Mode: 0o755, Body: fakeBin("consul")}, fakeEntry{Name: "LICENSE.txt", Body: "BUSL\n"}))
			},
			files:    merge(staticFiles(t, "consul"), map[string]string{"usr/bin/consul": exe}),
			contents: map[string]string{"usr/bin/consul": "fake consul", "usr/lib/systemd/system/consul.service": "UpheldBy=multi-user.target"},
			output:   "consul-1.20.1-x86-64.raw",
		},
		{
			name: "containerd",
			o:    CreateOptions{Recipe: "containerd", Version: "2.0.0"},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://raw.githubusercontent.com/containerd/containerd/refs/tags/v2.0.0/script/setup/runc-version", []byte("v1.2.1\n"))
				u := gh + "containerd/containerd/releases/download/v2.0.0/containerd-static-2.0.0-linux-amd64.tar.gz"
				m.putWithSum(u, tarGz(t,
					fakeEntry{Name: "bin/"},
					fakeEntry{Name: "bin/containerd", Mode: 0o755, Body: fakeBin("containerd")},
					fakeEntry{Name: "bin/ctr", Mode: 0o755, Body: fakeBin("ctr")},
					fakeEntry{Name: "bin/containerd-shim-runc-v2", Mode: 0o755, Body: fakeBin("shim")},
					fakeEntry{Name: "bin/containerd-stress", Link: "containerd"},
				), u+".sha256sum")
				runc := []byte(fakeBin("runc"))
				rb := gh + "opencontainers/runc/releases/download/v1.2.1/"
				m.put(rb+"runc.amd64", runc)
				m.put(rb+"runc.sha256sum", []byte(sum256([]byte("a"))+"  runc.arm64\n"+sum256(runc)+"  runc.amd64\n"+sum256([]byte("b"))+"  runc.tar.xz\n"))
			},
			files: merge(staticFiles(t, "containerd"), map[string]string{
				"usr/bin/containerd": exe, "usr/bin/ctr": exe, "usr/bin/containerd-shim-runc-v2": exe, "usr/bin/runc": exe,
				"usr/bin/containerd-stress": "->containerd",
			}),
			output: "containerd-2.0.0-x86-64.raw",
		},
		{
			name: "dataplaneapi",
			o:    CreateOptions{Recipe: "dataplaneapi", Version: "v3.0.4", Arch: flatcar.ArchARM64},
			serve: func(t *testing.T, m *mirror) {
				b := gh + "haproxytech/dataplaneapi/releases/download/v3.0.4/"
				tgz := tarGz(t, fakeEntry{Name: "LICENSE", Body: "Apache\n"}, fakeEntry{Name: "dataplaneapi", Mode: 0o755, Body: fakeBin("dataplaneapi")})
				m.put(b+"dataplaneapi_3.0.4_linux_arm64.tar.gz", tgz)
				m.put(b+"checksums.txt", []byte(sum256(tgz)+" *dataplaneapi_3.0.4_linux_arm64.tar.gz\n"))
			},
			files:  merge(staticFiles(t, "dataplaneapi"), map[string]string{"usr/bin/dataplaneapi": exe}),
			output: "dataplaneapi-v3.0.4-arm64.raw",
		},
		{
			name: "docker-buildx",
			o:    CreateOptions{Recipe: "docker-buildx", Version: "0.19.2"},
			serve: func(t *testing.T, m *mirror) {
				m.put(gh+"docker/buildx/releases/download/v0.19.2/buildx-v0.19.2.linux-amd64", []byte(fakeBin("buildx")))
			},
			files:  map[string]string{"usr/local/lib/docker/cli-plugins/docker-buildx": exe},
			output: "docker-buildx-0.19.2-x86-64.raw",
		},
		{
			name: "falco",
			o:    CreateOptions{Recipe: "falco", Version: "0.39.2"},
			serve: func(t *testing.T, m *mirror) {
				d := "falco-0.39.2-x86_64/"
				m.put("https://download.falco.org/packages/bin/x86_64/falco-0.39.2-x86_64.tar.gz", tarGz(t,
					fakeEntry{Name: d + "etc/falco/falco.yaml", Body: "engine: {}\n"},
					fakeEntry{Name: d + "etc/falcoctl/falcoctl.yaml", Body: "artifact: {}\n"},
					fakeEntry{Name: d + "usr/bin/falco", Mode: 0o755, Body: fakeBin("falco")},
					fakeEntry{Name: d + "usr/bin/falcoctl", Mode: 0o755, Body: fakeBin("falcoctl")},
					fakeEntry{Name: d + "usr/share/falco/plugins/libk8saudit.so", Mode: 0o755, Body: "elf\n"},
				))
			},
			files: merge(staticFiles(t, "falco"), map[string]string{
				"usr/share/falco/etc/falco/falco.yaml": file, "usr/share/falco/etc/falcoctl/falcoctl.yaml": file,
				"usr/bin/falco": exe, "usr/bin/falcoctl": exe, "usr/share/falco/plugins/libk8saudit.so": exe,
			}),
			output: "falco-0.39.2-x86-64.raw",
		},
		{
			name: "ig",
			o:    CreateOptions{Recipe: "ig", Version: "v0.34.0"},
			serve: func(t *testing.T, m *mirror) {
				b := gh + "inspektor-gadget/inspektor-gadget/releases/download/v0.34.0/"
				m.put(b+"ig-linux-amd64-v0.34.0.tar.gz", tarGz(t, fakeEntry{Name: "ig", Mode: 0o755, Body: fakeBin("ig")}))
				m.put(b+"gadgetctl-linux-amd64-v0.34.0.tar.gz", tarGz(t, fakeEntry{Name: "gadgetctl", Mode: 0o755, Body: fakeBin("gadgetctl")}))
			},
			files:  map[string]string{"usr/bin/ig": exe, "usr/bin/gadgetctl": exe},
			output: "ig-v0.34.0-x86-64.raw",
		},
		{
			name: "kata-containers",
			o:    CreateOptions{Recipe: "kata-containers", Version: "3.21.0"},
			serve: func(t *testing.T, m *mirror) {
				name := "kata-static-3.21.0-amd64.tar.zst"
				body := tarZst(t,
					fakeEntry{Name: "./opt/kata/bin/kata-runtime", Mode: 0o755, Body: fakeBin("kata-runtime")},
					fakeEntry{Name: "./opt/kata/bin/containerd-shim-kata-v2", Mode: 0o755, Body: fakeBin("shim")},
					fakeEntry{Name: "./opt/kata/share/defaults/kata-containers/configuration.toml", Body: "[hypervisor.qemu]\n"},
				)
				m.put(gh+"kata-containers/kata-containers/releases/download/3.21.0/"+name, body)
				m.put("https://api.github.com/repos/kata-containers/kata-containers/releases/tags/3.21.0", jsonOf(map[string]any{
					"assets": []map[string]string{{"name": name, "digest": "sha256:" + sum256(body)}},
				}))
			},
			files: map[string]string{
				"opt/kata/bin/kata-runtime": exe, "opt/kata/bin/containerd-shim-kata-v2": exe,
				"opt/kata/share/defaults/kata-containers/configuration.toml": file,
				"usr/bin/kata-runtime":            "->../../opt/kata/bin/kata-runtime",
				"usr/bin/containerd-shim-kata-v2": "->../../opt/kata/bin/containerd-shim-kata-v2",
			},
			output: "kata-containers-3.21.0-x86-64.raw",
		},
		{
			name: "llamaedge",
			o:    CreateOptions{Recipe: "llamaedge", Version: "0.14.16", Options: map[string]string{"wasmedge-version": "0.14.1"}},
			serve: func(t *testing.T, m *mirror) {
				m.put(gh+"WasmEdge/WasmEdge/releases/download/0.14.1/WasmEdge-plugin-wasi_nn-ggml-0.14.1-ubuntu20.04_x86_64.tar.gz",
					tarGz(t, fakeEntry{Name: "libwasmedgePluginWasiNN.so", Mode: 0o755, Body: "elf\n"}))
				m.put(gh+"LlamaEdge/LlamaEdge/releases/download/0.14.16/llama-api-server.wasm", []byte("\x00asm"))
			},
			files: map[string]string{
				"usr/lib/wasmedge/libwasmedgePluginWasiNN.so": exe, "usr/lib/wasmedge/wasm/llama-api-server.wasm": file,
				"usr/share/llamaedge/wasmedge-version": file,
			},
			contents: map[string]string{"usr/share/llamaedge/wasmedge-version": "0.14.1\n"},
			output:   "llamaedge-0.14.16-x86-64.raw",
		},
		{
			name: "nebula",
			o:    CreateOptions{Recipe: "nebula", Version: "v1.9.5"},
			serve: func(t *testing.T, m *mirror) {
				b := gh + "slackhq/nebula/releases/download/v1.9.5/"
				tgz := tarGz(t, fakeEntry{Name: "nebula", Mode: 0o755, Body: fakeBin("nebula")}, fakeEntry{Name: "nebula-cert", Mode: 0o755, Body: fakeBin("cert")})
				m.put(b+"nebula-linux-amd64.tar.gz", tgz)
				m.put(b+"SHASUM256.txt", []byte(sum256([]byte("n"))+"  nebula-linux-arm64.tar.gz\n"+sum256(tgz)+"  nebula-linux-amd64.tar.gz\n"))
			},
			files:  merge(staticFiles(t, "nebula"), map[string]string{"usr/bin/nebula": exe, "usr/bin/nebula-cert": exe}),
			output: "nebula-v1.9.5-x86-64.raw",
		},
		{
			name: "nerdctl",
			o:    CreateOptions{Recipe: "nerdctl", Version: "v2.0.2"},
			serve: func(t *testing.T, m *mirror) {
				m.put(gh+"containerd/nerdctl/releases/download/v2.0.2/nerdctl-2.0.2-linux-amd64.tar.gz", tarGz(t,
					fakeEntry{Name: "nerdctl", Mode: 0o755, Body: fakeBin("nerdctl")},
					fakeEntry{Name: "containerd-rootless.sh", Mode: 0o755, Body: fakeBin("rootless")},
				))
			},
			files:  map[string]string{"usr/bin/nerdctl": exe, "usr/bin/containerd-rootless.sh": exe},
			output: "nerdctl-v2.0.2-x86-64.raw",
		},
		{
			name: "nerdctl-with-cni",
			o:    CreateOptions{Recipe: "nerdctl", Version: "v2.0.2", Options: map[string]string{"with-cni": "latest"}},
			serve: func(t *testing.T, m *mirror) {
				m.put(gh+"containerd/nerdctl/releases/download/v2.0.2/nerdctl-2.0.2-linux-amd64.tar.gz", tarGz(t,
					fakeEntry{Name: "nerdctl", Mode: 0o755, Body: fakeBin("nerdctl")}))
				m.put("https://api.github.com/repos/containernetworking/plugins/releases/latest", jsonOf(map[string]string{"tag_name": "v1.6.2"}))
				serveCNI(t, m)
			},
			files: merge(staticFiles(t, "nerdctl"), map[string]string{
				"usr/bin/nerdctl": exe, "usr/libexec/cni/bridge": exe, "usr/share/nerdctl/nerdctl-cni-version": file,
			}),
			contents: map[string]string{"usr/share/nerdctl/nerdctl-cni-version": "v1.6.2"},
			output:   "nerdctl-v2.0.2-x86-64.raw",
		},
		{
			name: "nomad",
			o:    CreateOptions{Recipe: "nomad", Version: "1.9.3"},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://releases.hashicorp.com/nomad/1.9.3/nomad_1.9.3_linux_amd64.zip", zipOf(t, fakeEntry{Name: "nomad", Mode: 0o755, Body: fakeBin("nomad")}))
			},
			files:  merge(staticFiles(t, "nomad"), map[string]string{"usr/bin/nomad": exe}),
			output: "nomad-1.9.3-x86-64.raw",
		},
		{
			name: "opkssh",
			o:    CreateOptions{Recipe: "opkssh", Version: "v0.3.0"},
			serve: func(t *testing.T, m *mirror) {
				m.put(gh+"openpubkey/opkssh/releases/download/v0.3.0/opkssh-linux-amd64", []byte(fakeBin("opkssh")))
			},
			files:  map[string]string{"usr/local/bin/opkssh": exe},
			output: "opkssh-v0.3.0-x86-64.raw",
		},
		{
			name: "vault",
			o:    CreateOptions{Recipe: "vault", Version: "1.18.2"},
			serve: func(t *testing.T, m *mirror) {
				m.put("https://releases.hashicorp.com/vault/1.18.2/vault_1.18.2_linux_amd64.zip", zipOf(t, fakeEntry{Name: "vault", Mode: 0o755, Body: fakeBin("vault")}))
			},
			files:  merge(staticFiles(t, "vault"), map[string]string{"usr/bin/vault": exe}),
			output: "vault-1.18.2-x86-64.raw",
		},
		{
			name: "wasmedge-old-layout",
			o:    CreateOptions{Recipe: "wasmedge", Version: "0.14.1"},
			serve: func(t *testing.T, m *mirror) {
				d := "WasmEdge-0.14.1-Linux/"
				m.put(gh+"WasmEdge/WasmEdge/releases/download/0.14.1/WasmEdge-0.14.1-ubuntu20.04_x86_64.tar.gz", tarGz(t,
					fakeEntry{Name: d + "bin/wasmedge", Mode: 0o755, Body: fakeBin("wasmedge")},
					fakeEntry{Name: d + "lib/libwasmedge.so.0.1.0", Mode: 0o644, Body: "elf\n"},
					fakeEntry{Name: d + "lib/libwasmedge.so.0", Link: "libwasmedge.so.0.1.0"},
					fakeEntry{Name: d + "include/wasmedge/wasmedge.h", Body: "/* h */\n"},
				))
			},
			files: map[string]string{
				"usr/bin/wasmedge": exe, "usr/lib/libwasmedge.so.0.1.0": file, "usr/lib/libwasmedge.so.0": "->libwasmedge.so.0.1.0",
			},
			output: "wasmedge-0.14.1-x86-64.raw",
		},
		{
			name: "wasmedge-new-layout",
			o:    CreateOptions{Recipe: "wasmedge", Version: "0.15.0"},
			serve: func(t *testing.T, m *mirror) {
				m.put(gh+"WasmEdge/WasmEdge/releases/download/0.15.0/WasmEdge-0.15.0-ubuntu20.04_x86_64.tar.gz", tarGz(t,
					fakeEntry{Name: "bin/wasmedge", Mode: 0o755, Body: fakeBin("wasmedge")},
					fakeEntry{Name: "lib/libwasmedge.so.0.1.0", Mode: 0o644, Body: "elf\n"},
				))
			},
			files:  map[string]string{"usr/bin/wasmedge": exe, "usr/lib/libwasmedge.so.0.1.0": file},
			output: "wasmedge-0.15.0-x86-64.raw",
		},
	}
}

var _ = strings.Contains
