#!/usr/bin/env bash
# The fuzz stage: runs every Go fuzz target of the repository for a short,
# fixed time each, one after the other. Targets are found, not listed:
# every "func FuzzX(f *testing.F)" in a *_test.go file.
#
# Time: FUZZTIME (e.g. 30s) sets each target's time. Unset, the stage
# shares FUZZ_BUDGET seconds (default 200) among the targets found,
# counting ~4 s per target for building, each getting 5 to 10 s: measured
# on 2 cores, 8 targets at 10 s took 116 s, so 15 targets stay near 3.5 min.
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
pattern="${1:-.}"

files=$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' -not -path './.git/*')
list=$(grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' $files /dev/null |
  sed -E 's/^([^:]*):func (Fuzz[A-Za-z0-9_]*)\(.*/\1 \2/' | sort |
  while read -r file name; do [[ "$name" =~ $pattern ]] && echo "$file $name"; done || true)
count=$(printf '%s\n' "$list" | grep -c . || true)
if [ -n "${FUZZTIME:-}" ]; then
  fuzztime="$FUZZTIME"
elif [ "$count" -gt 0 ]; then
  per=$(( ${FUZZ_BUDGET:-200} / count - 4 ))
  fuzztime="$(( per < 5 ? 5 : per > 10 ? 10 : per ))s"
fi

# fuzz_one runs one target. Go's fuzz coordinator (before Go 1.27,
# golang/go#75804) can end a run that found nothing with a bare "context
# deadline exceeded" when -fuzztime expires while a worker is mid-call on a
# loaded machine. That one shape, with no failing input written and no
# panic or test failure in the log, is run again (up to two more times: a
# real finding always writes its input, so this never hides one);
# anything else is a failure at once.
fuzz_one() {
  local pkg="$1" name="$2" log attempt
  log=$(mktemp)
  for attempt in 1 2 3; do
    if go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s >"$log" 2>&1; then
      grep -v '^fuzz: elapsed' "$log"
      rm -f "$log"
      return 0
    fi
    grep -v '^fuzz: elapsed' "$log"
    if [ "$attempt" -lt 3 ] && deadline_flake "$log"; then
      echo "-- $name: the fuzz coordinator's deadline race (no input found); running it again"
      continue
    fi
    break
  done
  rm -f "$log"
  return 1
}

# deadline_flake: the log shows only the coordinator's deadline error.
deadline_flake() {
  grep -q 'context deadline exceeded' "$1" &&
    ! grep -qE 'Failing input written|panic:|fatal error:|_test\.go:[0-9]+:' "$1"
}

found=0
failed=()
start=$SECONDS
while read -r file name; do
  [ -n "$name" ] || continue
  found=$((found + 1))
  pkg="./$(dirname "$file")"
  echo "== $pkg $name ($fuzztime)"
  if ! fuzz_one "$pkg" "$name"; then
    failed+=("$pkg $name")
  fi
done <<< "$list"

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
