#!/bin/sh
# Static sched_ext schedulers build, run inside docker.io/alpine with the
# work dir mounted at /install_root. Arguments: VERSION (git tag) UID:GID.
set -eu
version="$1"
owner="$2"
apk add --no-cache clang clang-dev clang-libclang llvm lld bpftool libbpf-dev elfutils-dev \
  zlib-dev zlib-static zstd-dev zstd-static libseccomp-dev openssl-dev openssl-libs-static \
  cargo rust pkgconf curl git make gcc musl-dev linux-headers jq ca-certificates pax-utils
git clone --depth 1 -b "$version" https://github.com/sched-ext/scx.git /src
cd /src
triple="$(rustc -vV | sed -n 's/^host: //p')"
export PKG_CONFIG_ALL_STATIC=1 LIBBPF_SYS_STATIC=1
export RUSTFLAGS="-C target-feature=+crt-static -l static=z -l static=zstd -l pthread -C link-arg=-Wl,-static"
cargo build --release --target "$triple"
mkdir -p /install_root/usr/bin
for f in "target/$triple/release"/scx*; do
  if [ -f "$f" ] && [ -x "$f" ]; then cp "$f" /install_root/usr/bin/; fi
done
chown -R "$owner" /install_root/usr
