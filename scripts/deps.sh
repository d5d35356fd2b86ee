#!/usr/bin/env bash
# Installs the Debian packages bake-os needs for a purpose, when missing.
#   scripts/deps.sh demo   tools the demo uses
#   scripts/deps.sh test   every tool the test suite uses as a judge
#   scripts/deps.sh boot   QEMU, a Debian kernel and busybox for the boot tests
# The tool-to-package table is internal/child.Packages; the purposes are in
# internal/cmd/deps, which prints the missing packages.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-env.sh

case "${1:-test}" in
  demo|test|boot) ;;
  *) echo "usage: $0 demo|test|boot" >&2; exit 2 ;;
esac

mapfile -t missing < <(go run ./internal/cmd/deps "${1:-test}")
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
