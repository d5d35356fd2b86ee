#!/bin/sh
# Static chrony build, run inside docker.io/alpine with the work dir
# mounted at /install_root. Arguments: VERSION (git tag) UID:GID.
set -eu
version="$1"
owner="$2"
apk add --no-cache git asciidoctor make build-base bison
git clone --depth 1 -b "$version" https://gitlab.com/chrony/chrony.git /src
cd /src
CFLAGS='-static -s' LDFLAGS=-static ./configure --prefix=/usr --exec_prefix=/usr --sbindir=/usr/bin \
  --sysconfdir=/etc/chrony --localstatedir=/var --runstatedir=/run --mandir=/usr/share/man
make -j"$(nproc)"
make DESTDIR=/install_root install
rm -rf /install_root/usr/etc
chown -R "$owner" /install_root/usr
