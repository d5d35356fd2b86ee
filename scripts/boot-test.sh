#!/usr/bin/env bash
# The boot stage: bakes an image and boots it in QEMU (TCG) with a Debian
# kernel and a busybox initramfs that looks inside it. Installs
# qemu-system-x86, linux-image-cloud-amd64 and busybox-static when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-env.sh
scripts/deps.sh test
scripts/deps.sh boot
export BAKE_TEST_REQUIRE_TOOLS="${BAKE_TEST_REQUIRE_TOOLS:-all}" BAKE_TEST_BOOT=1
# -v: the guest's console is in the test log.
exec go test -count=1 -timeout 15m -run '^TestBoot' -v ./cmd/bake-os/
