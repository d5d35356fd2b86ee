#!/usr/bin/env bash
# bench-bake.sh: bake time of
#
#   bake-os --image flatcar_production_image.bin ext:ext.raw ext2:ext2.raw ext3:ext3.raw
#
# (raw, uncompressed input; several sysexts into ROOT) against the same work
# done by hand: cp --sparse=always of the image, then one debugfs -w run on
# ROOT ('image?offset=N') doing the same writes (mkdir /opt/extensions and
# /etc/extensions, write each sysext, symlink /etc/extensions/NAME.raw,
# sif uid/gid/mode), in one run on the same Flatcar-like image. Prints
# each side's minimum over RUNS (default 3) runs and the ratio. Both outputs
# are checked with e2fsck -fn (on a read-only copy of ROOT) and the baked
# files read back with debugfs.
#
# Inputs come from internal/cmd/benchimage, cached in
# ${BENCH_DIR:-/var/tmp/bake-os-bench}. No root needed.
set -euo pipefail

runs=${RUNS:-3}
bench_dir=${BENCH_DIR:-/var/tmp/bake-os-bench}
repo=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "bench-bake: $*" >&2; exit 1; }
for t in debugfs e2fsck go bc sha256sum; do
	command -v "$t" >/dev/null || die "$t not found: install it (scripts/deps.sh test)"
done
mkdir -p "$bench_dir"
export BENCH_DIR=$bench_dir
# BENCHIMAGE_ARGS: flags of internal/cmd/benchimage, e.g. "-raw" for USR-A
# data that bzip2 shrinks ~3x instead of Flatcar-like zstd-compressed data.
# shellcheck disable=SC2086
eval "$(cd "$repo" && go run ./internal/cmd/benchimage ${BENCHIMAGE_ARGS:-})"
work=$(mktemp -d "$bench_dir/bake.XXXXXX")
trap 'rm -rf "$work"' EXIT
bakeos=$work/bake-os
(cd "$repo" && go build -o "$bakeos" ./cmd/bake-os)

root_off=$((12722176 * 512)) root_bytes=$((3653632 * 512))
sysexts=("ext:$EXT" "ext2:$EXT2" "ext3:$EXT3")

now() { date +%s.%N; }
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }

by_hand() {
	local out=$work/hand.bin cmds=$work/hand.debugfs s name file
	rm -f "$out"
	{
		# ROOT of a release is nearly empty: make the parents too.
		for d in /opt /opt/extensions /etc /etc/extensions; do
			echo "mkdir $d"
		done
		for d in /opt /opt/extensions /etc /etc/extensions; do
			echo "sif $d uid 0"
			echo "sif $d gid 0"
			echo "sif $d mode 040755"
		done
		for s in "${sysexts[@]}"; do
			name=${s%%:*} file=${s#*:}
			echo "write $file /opt/extensions/$(basename "$file")"
			echo "sif /opt/extensions/$(basename "$file") uid 0"
			echo "sif /opt/extensions/$(basename "$file") gid 0"
			echo "sif /opt/extensions/$(basename "$file") mode 0100644"
			echo "symlink /etc/extensions/$name.raw /opt/extensions/$(basename "$file")"
		done
	} >"$cmds"
	cp --sparse=always "$IMAGE" "$out"
	debugfs -w -f "$cmds" "$out?offset=$root_off" >/dev/null 2>"$work/hand.err" ||
		{ cat "$work/hand.err" >&2; die "debugfs failed"; }
	# debugfs exits 0 when a command fails: look at what it said.
	if grep -v '^debugfs [0-9.]* (' "$work/hand.err" | grep -q .; then
		cat "$work/hand.err" >&2
		die "debugfs reported errors"
	fi
	hand_out=$out
}

ours() {
	local d=$work/ours
	rm -rf "$d"
	mkdir -p "$d"
	"$bakeos" --image "$IMAGE" --output-dir "$d" "${sysexts[@]}" >/dev/null 2>"$work/ours.err" ||
		{ cat "$work/ours.err" >&2; die "bake-os failed"; }
	ours_out=$d/flatcar_production_image.bin
}

# check IMG LABEL: e2fsck -fn on a copy of ROOT, sysexts read back.
check() {
	local part=$work/root.part s name file got want
	rm -f "$part"
	truncate -s "$root_bytes" "$part"
	dd if="$1" of="$part" bs=1M iflag=skip_bytes,count_bytes skip="$root_off" count="$root_bytes" conv=sparse,notrunc status=none
	e2fsck -fn "$part" >/dev/null 2>&1 || die "$2: e2fsck -fn reports errors on ROOT"
	for s in "${sysexts[@]}"; do
		name=${s%%:*} file=${s#*:}
		got=$(debugfs -R "cat /opt/extensions/$(basename "$file")" "$part" 2>/dev/null | sha256sum | cut -d' ' -f1)
		want=$(sha256sum <"$file" | cut -d' ' -f1)
		[ "$got" = "$want" ] || die "$2: /opt/extensions/$(basename "$file") differs from $file"
		debugfs -R "stat /etc/extensions/$name.raw" "$part" 2>/dev/null | grep -q 'Type: symlink' ||
			die "$2: /etc/extensions/$name.raw is not a symlink"
	done
	rm -f "$part"
}

echo "bench-bake: $(nproc) CPUs, RUNS=$runs, $(uptime | sed 's/.*load/load/')"
echo "image: $IMAGE ($(($(du -B1 "$IMAGE" | cut -f1) / 1000000)) MB allocated of $(($(stat -c %s "$IMAGE") / 1000000)) MB)"
total=0
for s in "${sysexts[@]}"; do total=$((total + $(stat -c %s "${s#*:}"))); done
echo "sysexts: ${#sysexts[@]}, $((total / 1000000)) MB in all"
best_hand="" best_ours=""
for i in $(seq "$runs"); do
	t=$(now); by_hand; th=$(echo "$(now) - $t" | bc)
	t=$(now); ours; to=$(echo "$(now) - $t" | bc)
	printf 'run %d: cp+debugfs %6.2f s   bake-os %6.2f s   (%s)\n' "$i" "$th" "$to" "$(uptime | sed 's/.*load/load/')"
	best_hand=$(min "$best_hand" "$th")
	best_ours=$(min "$best_ours" "$to")
	if [ "$i" = 1 ]; then
		check "$hand_out" cp+debugfs
		check "$ours_out" bake-os
		echo "  both outputs: e2fsck -fn clean, sysexts read back equal, symlinks present"
		echo "  allocated: input $(($(du -B1 "$IMAGE" | cut -f1) / 1000000)) MB, cp+debugfs $(($(du -B1 "$hand_out" | cut -f1) / 1000000)) MB, bake-os $(($(du -B1 "$ours_out" | cut -f1) / 1000000)) MB"
	fi
	rm -f "$hand_out" "$ours_out"
done
printf 'min: cp+debugfs %.2f s, bake-os %.2f s; bake-os/(cp+debugfs) = %.2f\n' "$best_hand" "$best_ours" \
	"$(echo "scale=3; $best_ours / $best_hand" | bc)"
