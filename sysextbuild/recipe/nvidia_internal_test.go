package recipe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-os/bake-os/internal/testutil"
)

// TestCreateNvidiaRuntime runs the real host build script with a fake git
// (whose checkout's build-packages.sh makes real .debs with dpkg-deb) and
// a fake docker that runs the extraction script on the host.
func TestCreateNvidiaRuntime(t *testing.T) {
	testutil.RequireTool(t, "dpkg-deb", "bash")
	bin := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "git"), `#!/bin/bash
set -eu
dest="${@: -1}"
mkdir -p "$dest/scripts"
cat > "$dest/scripts/build-packages.sh" <<'SCRIPT'
#!/bin/bash
set -eu
arch="${1#ubuntu18.04-}"
out="dist/ubuntu18.04/$arch"
mkdir -p "$out"
deb() { # name, then path=content pairs
  local name="$1"; shift
  local d; d="$(mktemp -d)"
  mkdir -p "$d/DEBIAN"
  printf 'Package: %s\nVersion: 1.17.3-1\nArchitecture: %s\nMaintainer: t <t@t>\nDescription: fake\n' "$name" "$arch" > "$d/DEBIAN/control"
  for pair in "$@"; do
    p="${pair%%=*}"; mkdir -p "$d/$(dirname "$p")"; printf '%s\n' "${pair#*=}" > "$d/$p"
    case "$p" in usr/bin/*) chmod 0755 "$d/$p" ;; *) chmod 0644 "$d/$p" ;; esac
  done
  dpkg-deb --root-owner-group --build "$d" "$out/${name}_1.17.3-1_$arch.deb" >/dev/null
}
deb nvidia-container-toolkit usr/bin/nvidia-ctk=ctk usr/bin/nvidia-container-runtime=runtime \
  etc/nvidia-container-toolkit/nvidia-cdi-refresh.env=NVIDIA_CTK_ARGS= \
  etc/systemd/system/nvidia-cdi-refresh.service=[Service] usr/share/doc/nvidia-container-toolkit/copyright=Apache
deb libnvidia-container1 usr/lib/x86_64-linux-gnu/libnvidia-container.so.1.17.3=elf
deb libnvidia-container-tools usr/bin/nvidia-container-cli=cli
SCRIPT
chmod 0755 "$dest/scripts/build-packages.sh"
`)
	write(filepath.Join(bin, "docker"), `#!/bin/bash
set -eu
case "$1" in
info) exit 0 ;;
run)
  while [ $# -gt 0 ]; do
    if [ "$1" = -v ]; then host="${2%%:*}"; fi
    script="$1"
    shift
  done
  script="${script//\/work/$host}"
  script="$(printf '%s\n' "$script" | grep -v 'apk add' | grep -v chown)"
  exec sh -euc "$script" ;;
esac
exit 1
`)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	runRecipeCase(t, recipeCase{
		name:  "nvidia-runtime",
		o:     CreateOptions{Recipe: "nvidia_runtime", Version: "v1.17.3", Engines: []string{filepath.Join(bin, "docker")}},
		serve: func(t *testing.T, m *mirror) {},
		files: merge(staticFiles(t, "nvidia-runtime"), map[string]string{
			"usr/bin/nvidia-ctk": exe, "usr/bin/nvidia-container-runtime": exe, "usr/bin/nvidia-container-cli": exe,
			"usr/lib/systemd/system/nvidia-cdi-refresh.service":                     file,
			"usr/share/flatcar/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env": file,
			"usr/lib64/libnvidia-container.so.1.17.3":                               file,
			"usr/local/nvidia": "->/opt/nvidia",
		}),
		contents: map[string]string{"usr/local/bin/_nvidia-runtime-helper": "systemd-sysext list"},
		output:   "nvidia_runtime-v1.17.3-x86-64.raw",
	})
}
