#!/usr/bin/env bash
# The test suite: installs the judges (e2fsck, btrfs, sgdisk, qemu-img, ...)
# when missing, then runs every test with those tools required.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-env.sh
scripts/deps.sh test
export BAKE_TEST_REQUIRE_TOOLS="${BAKE_TEST_REQUIRE_TOOLS:-all}"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -count=1 -timeout 25m "$@" ./...
