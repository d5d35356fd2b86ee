#!/bin/sh
# bench-bz2.sh: time decompress.Bzip2ToSparse (via decompress/internal/bz2cat)
# against bunzip2 and lbzip2 -d on the same Flatcar-like image, all writing
# to a file.
#
#   scripts/bench-bz2.sh [SIZE_MB [DATA_MB]]
#
# The input is a sparse file of SIZE_MB (default 2048) with DATA_MB (default
# 256) of semi-compressible data (a tar of /usr) spread over it in 8 MB
# pieces, compressed with bzip2 -9. It is cached in
# ${TMPDIR:-/tmp}/bake-os-bench/ because making it is slow. Timings use
# /usr/bin/time; the machine may be shared, so repeat (RUNS, default 3) and
# read the medians. The output is checked against the input's sha256 and
# its allocated size is printed (holes). A Flatcar-sized run:
#   RUNS=1 scripts/bench-bz2.sh 8192 1024
# The Go benchmark is `go test -run X -bench Bzip2ToSparse ./decompress/`
# (256 MiB image), and `BAKE_BENCH=1 BAKE_BENCH_CMD='... | bzip2 -9' go
# test -run CPUDecodeBlock -v ./decompress/` gives per-stage CPU time of
# one block.
set -eu
size_mb=${1:-2048}
data_mb=${2:-256}
runs=${RUNS:-3}
dir=${TMPDIR:-/tmp}/bake-os-bench
mkdir -p "$dir"
img=$dir/flatcar-like-${size_mb}m-${data_mb}m.bin
bz=$img.bz2
root=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -s "$bz" ]; then
	echo "making $bz (slow, cached)" >&2
	src=$dir/data-${data_mb}m
	tar cf - /usr/lib /usr/share /usr/bin 2>/dev/null | head -c $((data_mb * 1048576)) >"$src"
	rm -f "$img"
	truncate -s "${size_mb}M" "$img"
	pieces=$((data_mb / 8))
	stride=$((size_mb / pieces))
	i=0
	while [ $i -lt $pieces ]; do
		dd if="$src" of="$img" bs=1M count=8 skip=$((i * 8)) seek=$((i * stride)) conv=notrunc,sparse status=none
		i=$((i + 1))
	done
	bzip2 -9 -c "$img" >"$bz.tmp"
	mv "$bz.tmp" "$bz"
	rm -f "$src"
	sha256sum <"$img" | cut -d' ' -f1 >"$bz.sha256"
	rm -f "$img"
fi

tool=$dir/bz2cat
(cd "$root" && go build -o "$tool" ./decompress/internal/bz2cat)
out=$dir/out.bin
echo "input: $(du -h --apparent-size "$bz" | cut -f1) compressed, ${size_mb} MiB decompressed; $(nproc) CPUs; $runs runs" >&2

t() { # name cmd...: prints median wall seconds
	name=$1
	shift
	ts=""
	for _ in $(seq "$runs"); do
		rm -f "$out"
		/usr/bin/time -f "%e %M" -o "$dir/.t" sh -c "$*" >/dev/null
		ts="$ts $(tail -1 "$dir/.t" | cut -d' ' -f1)"
		rss=$(tail -1 "$dir/.t" | cut -d' ' -f2)
	done
	echo "$ts" | tr ' ' '\n' | grep . | sort -n | awk -v n="$name" -v rss="$rss" '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%-12s median %6.2f s  (runs:", n, m; for (i=1;i<=NR;i++) printf " %s", a[i]; printf ")  max RSS %d MiB\n", rss/1024; print m > "/dev/stderr"}' 2>"$dir/.m.$name"
}

t ours "$tool $bz $out"
want=$(cat "$bz.sha256")
got=$(sha256sum <"$out" | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "MISMATCH: ours $got want $want" >&2; exit 1; }
echo "ours: output sha256 ok, $(du -k "$out" | cut -f1) KiB allocated of $(du -k --apparent-size "$out" | cut -f1) KiB"
t bunzip2 "bunzip2 -c $bz >$out"
if command -v lbzip2 >/dev/null; then
	t lbzip2 "lbzip2 -d -c $bz >$out"
fi
o=$(cat "$dir/.m.ours")
for n in bunzip2 lbzip2; do
	[ -f "$dir/.m.$n" ] || continue
	awk -v a="$o" -v b="$(cat "$dir/.m.$n")" -v n="$n" 'BEGIN { printf "ours/%s = %.2f (%.2fx faster)\n", n, a/b, b/a }'
done
rm -f "$out" "$dir"/.m.* "$dir/.t"
