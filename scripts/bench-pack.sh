#!/bin/sh
# Pack a generated 200 MiB tree (BAKE_BENCH_TREE_MB to change) with
# sysextbuild.Pack (default squashfs path) and with plain mksquashfs in the
# same run, and print both times and their ratio (pack/mksquashfs).
# Usage: scripts/bench-pack.sh [go test flags, e.g. -benchtime=5x]
set -eu
cd "$(dirname "$0")/.."
exec go test ./sysextbuild -run '^$' -bench 'BenchmarkPackVsMksquashfs' -benchtime "${BENCHTIME:-3x}" "$@"
