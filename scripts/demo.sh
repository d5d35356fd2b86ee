#!/usr/bin/env bash
# The demo on the embedded default: generate a Flatcar-layout image and a
# sample sysext, bake them, print "bake-os inspect" of the result.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-env.sh
scripts/deps.sh demo
go run ./cmd/bake-os demo --dir "${DEMO_DIR:-demo-out}" "$@"
