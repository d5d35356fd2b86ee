#!/bin/bash
# Host-side build of the NVIDIA container toolkit: upstream builds its .deb
# packages with docker ($ENGINE), then an Alpine container unpacks them.
# Arguments: VERSION (git tag) UPSTREAM_ARCH UID:GID. Runs in $BUILD_DIR;
# leaves the sysext payload in $BUILD_DIR/usr.
set -euo pipefail
version="$1"
arch="$2"
owner="$3"
cd "$BUILD_DIR"
git clone --depth 1 --recursive --shallow-submodules -b "$version" \
  https://github.com/NVIDIA/nvidia-container-toolkit src
(cd src && ./scripts/build-packages.sh "ubuntu18.04-$arch")
mkdir -p out
"$ENGINE" run --rm -i -v "$BUILD_DIR:/work" docker.io/alpine:3.21 sh -euc "
  apk add --no-cache dpkg
  cd /work/src/dist/ubuntu18.04/$arch
  for deb in nvidia-container-toolkit*.deb libnvidia-container1_*.deb libnvidia-container-tools*.deb; do
    dpkg-deb -x \"\$deb\" /work/out
  done
  chown -R $owner /work/out"
rm -rf out/usr/share
mkdir -p usr/bin usr/lib64 usr/lib/systemd usr/share/flatcar/etc
if [ -d out/etc/systemd ]; then cp -a out/etc/systemd/. usr/lib/systemd/; fi
if [ -d out/etc/nvidia-container-toolkit ]; then cp -a out/etc/nvidia-container-toolkit usr/share/flatcar/etc/; fi
cp -a out/usr/bin/. usr/bin/
for d in out/usr/lib/*-linux-gnu; do cp -a "$d"/. usr/lib64/; done
