#!/usr/bin/env bash
# The fuzz stage: runs every Go fuzz target of the repository for a short,
# fixed time each (FUZZTIME, default 10s), one after the other. Targets are
# found, not listed: every "func FuzzX(f *testing.F)" in a *_test.go file.
# A run takes about len(targets) x (FUZZTIME + build); keep FUZZTIME so the
# whole stage stays within ~4 minutes on 2 cores.
#
# Usage: scripts/fuzz.sh [PATTERN]   (PATTERN: only targets whose name matches)
#
# Found-crash policy: when a target fails, "go test" writes the input to
# PKG/testdata/fuzz/FuzzX/<hash>. That file is committed (renamed after
# what it shows, e.g. testdata/fuzz/FuzzParse/quote-invalid-utf8) so the
# plain test suite replays it forever, the bug is fixed, and a named
# regression test (TestX, named after the crash) states the case in words
# next to the target. Seed corpora are f.Add calls or files under
# testdata/fuzz/FuzzX/; the fuzzer's own cache of interesting inputs
# ($GOCACHE/fuzz) is not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-env.sh
export BAKE_TEST_REQUIRE_TOOLS="${BAKE_TEST_REQUIRE_TOOLS:-all}"
fuzztime="${FUZZTIME:-10s}"
pattern="${1:-.}"

targets=$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' -not -path './.git/*')
found=0
failed=()
start=$SECONDS
while read -r file name; do
  [ -n "$name" ] || continue
  [[ "$name" =~ $pattern ]] || continue
  found=$((found + 1))
  pkg="./$(dirname "$file")"
  echo "== $pkg $name ($fuzztime)"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" 2>&1 | grep -v '^fuzz: elapsed'; then
    failed+=("$pkg $name")
  fi
done < <(grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' $targets /dev/null |
  sed -E 's/^([^:]*):func (Fuzz[A-Za-z0-9_]*)\(.*/\1 \2/' | sort)

echo "fuzz stage: $found targets, $((SECONDS - start))s"
if [ "$found" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'fuzz target failed: %s\n' "${failed[@]}" >&2
  echo "the failing input is in PKG/testdata/fuzz/FuzzX/: commit it with the fix (see this script's header)" >&2
  exit 1
fi
