#!/usr/bin/env bash
# bench-diskfmt.sh: time bake-os's native qcow2 and streamOptimized VMDK
# writers against qemu-img on the same Flatcar-like sparse image, in one run.
#
#   scripts/bench-diskfmt.sh [WORKDIR]
#
# The image is 8.4 GB virtual with a Flatcar-like GPT (EFI-SYSTEM, USR-A,
# OEM, ROOT) and about 600 MB of data: real files from /usr (binaries,
# libraries, text: semi-compressible), some random (incompressible) data and
# allocated zero runs. Each writer runs RUNS times (default 3); the median
# wall time and the output size are compared. Targets (issue 6): ours at
# least 1.5x faster, at most +5% size.
set -euo pipefail

work=${1:-$(mktemp -d /tmp/bench-diskfmt.XXXXXX)}
runs=${RUNS:-3}
mkdir -p "$work"
repo=$(cd "$(dirname "$0")/.." && pwd)
img=$work/flatcar-like.bin
tool=$work/convtool

command -v qemu-img >/dev/null || { echo "bench-diskfmt: qemu-img not found: install qemu-utils" >&2; exit 1; }
command -v sgdisk >/dev/null || { echo "bench-diskfmt: sgdisk not found: install gdisk" >&2; exit 1; }
(cd "$repo" && go build -o "$tool" ./vendors/diskfmt/internal/convtool)

if [ ! -s "$img" ]; then
	mib=$((1024 * 1024))
	rm -f "$img"
	truncate -s $((8448 * mib)) "$img"
	sgdisk -n 1:4096:+128M -t 1:ef00 -c 1:EFI-SYSTEM \
		-n 3:0:+1024M -c 3:USR-A -n 4:0:+1024M -c 4:USR-B \
		-n 6:0:+128M -c 6:OEM -n 9:0:0 -c 9:ROOT "$img" >/dev/null
	# fill DIR MAXMIB OFFSETMIB: a tar of real files, written sparsely.
	fill() {
		(set +o pipefail
			tar -C / --sort=name -cf - "$1" 2>/dev/null | head -c $(($2 * mib)) |
				dd of="$img" bs=1M seek="$3" conv=notrunc,sparse iflag=fullblock status=none)
	}
	fill usr/bin 60 3                # ESP: binaries
	fill usr/lib/x86_64-linux-gnu 380 140  # USR-A: libraries
	fill usr/share/doc 60 560        # USR-A: text
	fill usr/share/locale 30 2200    # OEM: mixed
	head -c $((40 * mib)) /dev/urandom | dd of="$img" bs=1M seek=2400 conv=notrunc status=none
	dd if=/dev/zero of="$img" bs=1M seek=2500 count=32 conv=notrunc status=none # allocated zeros
	fill usr/share/man 30 2600       # ROOT
fi
echo "image: $img ($(du -m "$img" | cut -f1) MB allocated of $(($(stat -c %s "$img") / 1024 / 1024)) MiB)"

# median of the wall-clock seconds of "$@" over $runs runs
timeit() {
	local ts=()
	for _ in $(seq "$runs"); do
		local s e
		s=$(date +%s.%N)
		"$@" >/dev/null
		e=$(date +%s.%N)
		ts+=("$(echo "$e - $s" | bc)")
	done
	printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

compare() { # name ours... -- theirs...
	local name=$1 out_ours=$work/ours.$1 out_qemu=$work/qemu.$1
	shift
	local ours=() theirs=()
	while [ "$1" != -- ]; do ours+=("$1"); shift; done
	shift
	theirs=("$@")
	rm -f "$out_ours" "$out_qemu"
	local to tq so sq
	to=$(timeit "${ours[@]}" "$out_ours")
	tq=$(timeit "${theirs[@]}" "$out_qemu")
	so=$(stat -c %s "$out_ours")
	sq=$(stat -c %s "$out_qemu")
	printf '%-12s ours %6.2fs %5d MB | qemu-img %6.2fs %5d MB | speedup %5.2fx size ratio %.3f\n' \
		"$name" "$to" $((so / 1000000)) "$tq" $((sq / 1000000)) \
		"$(echo "$tq / $to" | bc -l)" "$(echo "$so / $sq" | bc -l)"
}

compare qcow2 "$tool" qcow2 "$img" -- qemu-img convert -c -f raw -O qcow2 -o compat=0.10 "$img"
compare vmdk-stream "$tool" vmdk-stream "$img" -- qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$img"
