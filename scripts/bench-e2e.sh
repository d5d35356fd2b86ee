#!/usr/bin/env bash
# bench-e2e.sh: end-to-end time of
#
#   bake-os --image flatcar_production_image.bin.bz2 --vendor qemu_uefi ext:ext.raw
#
# with default flags (plus --output-dir and --verbose), against
# the seed's pipeline (bake_flatcar_image.sh + the SDK's image_to_vm.sh),
# reimplemented faithfully in bash, on the same Flatcar-like image in one
# run. The product target is a speedup of at least 10x.
#
#   bunzip2       bunzip2 of the .bin.bz2 to a file (not sparse, as bunzip2 writes)
#   install       losetup + mount OEM and ROOT, cp the sysext to /opt/extensions,
#                 symlink /etc/extensions/ext.raw, umount (bake_flatcar_image.sh)
#   copy          cp --sparse=always of the generic image for the vendor image
#   resize        grow to the "vm" layout: truncate, sgdisk -e, recreate entry 9
#                 with the same type/unique GUID/name/attributes, e2fsck -pf +
#                 resize2fs on a loop device of ROOT
#   oem           mount OEM (btrfs), /sysext/oem-qemu-VER.raw + active marker,
#                 grub.cfg, oem-release, umount
#   qemu-img      qemu-img convert -c -O qcow2 -o compat=0.10
#
# Needs root (loop devices, mount). The image, its .bz2, oem-qemu.raw and
# ext.raw are made by internal/cmd/benchimage and cached in
# ${BENCH_DIR:-/var/tmp/bake-os-bench} (first run: several minutes).
# Each side runs RUNS times (default 2), alternating; the minimum of each
# step is reported, and the CPU seconds (user+sys) of each side, which
# depend less on the load. The machine may be shared: the load average is
# printed. Each side starts after a sync (not timed).
#
#   scripts/bench-e2e.sh            # RUNS=3 scripts/bench-e2e.sh
set -euo pipefail

runs=${RUNS:-2}
bench_dir=${BENCH_DIR:-/var/tmp/bake-os-bench}
repo=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "bench-e2e: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root for loop devices and mounts: run as root"
for t in bunzip2 losetup mount umount sgdisk e2fsck resize2fs qemu-img btrfs go bc; do
	command -v "$t" >/dev/null || die "$t not found: install it (scripts/deps.sh test)"
done
mkdir -p "$bench_dir"
export BENCH_DIR=$bench_dir
# BENCHIMAGE_ARGS: flags of internal/cmd/benchimage, e.g. "-raw" for USR-A
# data that bzip2 shrinks ~3x instead of Flatcar-like zstd-compressed data.
# shellcheck disable=SC2086
eval "$(cd "$repo" && go run ./internal/cmd/benchimage ${BENCHIMAGE_ARGS:-})"
work=$(mktemp -d "$bench_dir/e2e.XXXXXX")
bakeos=$work/bake-os
(cd "$repo" && go build -o "$bakeos" ./cmd/bake-os)

# Cleanup of whatever is still mounted or attached, on any exit.
mounts=()
loops=()
cleanup() {
	local m l
	for m in "${mounts[@]}"; do
		mountpoint -q "$m" && umount "$m"
	done
	for l in "${loops[@]}"; do
		if losetup "$l" >/dev/null 2>&1; then
			btrfs device scan --forget "$l" >/dev/null 2>&1 || true
			losetup -d "$l" 2>/dev/null || true
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

version=$(. "$IMAGE_DIR/version.txt" && echo "$FLATCAR_VERSION")
sector=512
# Base layout (docs/flatcar.md) and the qemu_uefi "vm" layout.
oem_start=10493952 oem_sectors=2097152
root_start=12722176 root_sectors=3653632
vm_root_sectors=12943360 vm_disk_sectors=25804800

# attach VAR FILE FIRST_SECTOR SECTORS: sets VAR to a new loop device for
# that range of FILE (not in a subshell, so cleanup knows it).
attach() {
	local dev
	dev=$(losetup -f --show -o $(($3 * sector)) --sizelimit $(($4 * sector)) "$2")
	loops+=("$dev")
	printf -v "$1" %s "$dev"
}
detach() {
	btrfs device scan --forget "$1" >/dev/null 2>&1 || true
	losetup -d "$1"
}

declare -A best      # "side step" -> min seconds
declare -A last      # "side step" -> seconds of the current run
order_seed=(bunzip2 install copy resize oem qemu-img)

now() { date +%s.%N; }
# CPU seconds (user+sys) used so far by finished children of this shell;
# `times` runs in this shell (a subshell would see none of them).
cpu_mark() { times >"$work/times"; }
cpu_read() { awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/times"; }
declare -A cpu_best # side -> min CPU seconds of a whole run
cpu_record() { # side cpu_before
	local c
	cpu_mark
	c=$(echo "$(cpu_read) - $2" | bc)
	if [ -z "${cpu_best[$1]:-}" ] || [ "$(echo "$c < ${cpu_best[$1]}" | bc)" = 1 ]; then
		cpu_best[$1]=$c
	fi
	printf '  %-5s %-9s %7.2f s\n' "$1" "CPU" "$c"
}
record() { # side step start
	local d
	d=$(echo "$(now) - $3" | bc)
	last["$1 $2"]=$d
	if [ -z "${best["$1 $2"]:-}" ] || [ "$(echo "$d < ${best["$1 $2"]}" | bc)" = 1 ]; then
		best["$1 $2"]=$d
	fi
	printf '  %-5s %-9s %7.2f s\n' "$1" "$2" "$d"
}

seed_run() {
	local d=$work/seed t l m_oem m_root
	rm -rf "$d"
	mkdir -p "$d/flatcar-oem" "$d/flatcar-root"
	local img=$d/flatcar_production_image.bin vm=$d/flatcar_production_qemu_uefi_image.bin
	local t0 c0
	sync
	cpu_mark
	c0=$(cpu_read)
	t0=$(now)

	t=$(now)
	bunzip2 -c "$BZ2" >"$img"
	record seed bunzip2 "$t"

	t=$(now)
	local l_oem l_root
	attach l_oem "$img" $oem_start $oem_sectors
	attach l_root "$img" $root_start $root_sectors
	mount "$l_oem" "$d/flatcar-oem"
	mounts+=("$d/flatcar-oem")
	mount "$l_root" "$d/flatcar-root"
	mounts+=("$d/flatcar-root")
	mkdir -p "$d/flatcar-root/opt/extensions/"
	cp "$EXT" "$d/flatcar-root/opt/extensions/"
	mkdir -p "$d/flatcar-root/etc/extensions/"
	ln -s "/opt/extensions/$(basename "$EXT")" "$d/flatcar-root/etc/extensions/ext.raw"
	umount "$d/flatcar-oem"
	umount "$d/flatcar-root"
	detach "$l_oem"
	detach "$l_root"
	record seed install "$t"

	t=$(now)
	cp --sparse=always "$img" "$vm"
	record seed copy "$t"

	t=$(now)
	truncate -s $((vm_disk_sectors * sector)) "$vm"
	sgdisk -e "$vm" >/dev/null
	local info type uuid name attrs
	info=$(sgdisk -i 9 "$vm")
	type=$(sed -n 's/^Partition GUID code: \([0-9A-F-]*\).*/\1/p' <<<"$info")
	uuid=$(sed -n 's/^Partition unique GUID: //p' <<<"$info")
	name=$(sed -n "s/^Partition name: '\(.*\)'/\1/p" <<<"$info")
	attrs=$(sed -n 's/^Attribute flags: //p' <<<"$info")
	sgdisk -d 9 -n 9:$root_start:$((root_start + vm_root_sectors - 1)) -t "9:$type" -u "9:$uuid" \
		-c "9:$name" -A "9:=:$attrs" "$vm" >/dev/null
	attach l "$vm" $root_start $vm_root_sectors
	e2fsck -pf "$l" >/dev/null
	resize2fs "$l" >/dev/null 2>&1
	detach "$l"
	record seed resize "$t"

	t=$(now)
	attach l "$vm" $oem_start $oem_sectors
	m=$d/flatcar-oem
	mount "$l" "$m"
	mounts+=("$m")
	mkdir -p "$m/sysext"
	cp "$OEM" "$m/sysext/oem-qemu-$version.raw"
	touch "$m/sysext/active-oem-qemu"
	printf 'set oem_id="qemu"\nset linux_append="flatcar.autologin"\n' >"$m/grub.cfg"
	printf 'ID=qemu\nVERSION_ID=%s\nNAME=OEM sysext for QEMU\nHOME_URL=https://www.qemu.org/\nBUG_REPORT_URL=https://issues.flatcar.org\n' "$version" >"$m/oem-release"
	umount "$m"
	detach "$l"
	record seed oem "$t"

	t=$(now)
	qemu-img convert -c -f raw -O qcow2 -o compat=0.10 "$vm" "$d/flatcar_production_qemu_uefi_image.img"
	record seed qemu-img "$t"
	record seed TOTAL "$t0"
	cpu_record seed "$c0"
	seed_out=$d/flatcar_production_qemu_uefi_image.img
	rm -f "$img" "$vm" # keep only the qcow2
}

ours_run() {
	local d=$work/ours t
	rm -rf "$d"
	mkdir -p "$d"
	local c0
	sync
	cpu_mark
	c0=$(cpu_read)
	t=$(now)
	"$bakeos" --image "$BZ2" --output-dir "$d" --vendor qemu_uefi "${ours_flags[@]}" --verbose \
		"ext:$EXT" >"$work/ours.out" 2>"$work/ours.err" || { cat "$work/ours.err" >&2; die "bake-os failed"; }
	record ours TOTAL "$t"
	cpu_record ours "$c0"
	# bake-os step times ("bake-os: STEP NAME: done in 1.2s (SIZE)"), for
	# the profile.
	sed -n 's/^bake-os: \(decompressing\|preparing\|writing\)[^:]*: done in \([0-9.]*\)s.*$/\1 \2/p' "$work/ours.err" |
		awk '!seen[$1]++' | while read -r s v; do printf '        (%s %s s)\n' "$s" "$v"; done
	ours_out=$d/flatcar_production_qemu_uefi_image.img
}

# bake-os runs with its default flags: the qemu_uefi default writes the
# qcow2 the seed writes (no release-compressed copy).
ours_flags=()

echo "bench-e2e: $(nproc) CPUs, RUNS=$runs, $(uptime | sed 's/.*load/load/')"
echo "ours: bake-os --image IMAGE.bin.bz2 --vendor qemu_uefi ${ours_flags[*]} ext:EXT"
echo "image: $BZ2: $(($(stat -c %s "$BZ2") / 1000000)) MB compressed, $(($(stat -c %s "$IMAGE") / 1000000)) MB raw, $(($(du -B1 "$IMAGE" | cut -f1) / 1000000)) MB allocated"
echo "sysext: $EXT ($(($(stat -c %s "$EXT") / 1000000)) MB); OEM sysext $OEM"
for i in $(seq "$runs"); do
	echo "run $i: $(uptime | sed 's/.*load/load/')"
	# Alternate the order: a side may be slowed by the other's writeback.
	if [ $((i % 2)) = 1 ]; then seed_run; ours_run; else ours_run; seed_run; fi
	qemu-img check -q "$seed_out" || die "seed output fails qemu-img check"
	qemu-img check -q "$ours_out" || die "our output fails qemu-img check"
	vs=$(qemu-img info --output=json "$seed_out" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
	vo=$(qemu-img info --output=json "$ours_out" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
	[ "$vs" = "$vo" ] || die "virtual sizes differ: seed $vs ours $vo"
	size_seed=$(stat -c %s "$seed_out")
	size_ours=$(stat -c %s "$ours_out")
	echo "  qemu-img check: both clean; virtual size $vo"
done

echo
echo "== minimum over $runs runs (s); $(uptime | sed 's/.*load/load/')"
for s in "${order_seed[@]}"; do
	printf 'seed %-9s %7.2f\n' "$s" "${best["seed $s"]}"
done
printf 'seed %-9s %7.2f\n' TOTAL "${best["seed TOTAL"]}"
printf 'ours %-9s %7.2f\n' TOTAL "${best["ours TOTAL"]}"
echo "speedup seed/ours: $(echo "scale=2; ${best["seed TOTAL"]} / ${best["ours TOTAL"]}" | bc)x (target >= 10x)"
echo "speedup without the copy step: $(echo "scale=2; (${best["seed TOTAL"]} - ${best["seed copy"]}) / ${best["ours TOTAL"]}" | bc)x"
echo "CPU seconds (user+sys, min): seed ${cpu_best[seed]}, ours ${cpu_best[ours]}; seed/ours $(echo "scale=2; ${cpu_best[seed]} / ${cpu_best[ours]}" | bc)x"
echo "qcow2 size: seed $((size_seed / 1000000)) MB, ours $((size_ours / 1000000)) MB, ours/seed $(echo "scale=3; $size_ours / $size_seed" | bc)"
