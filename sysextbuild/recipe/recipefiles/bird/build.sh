#!/bin/sh
# Static BIRD build, run inside docker.io/alpine with the work dir mounted
# at /install_root. Arguments: VERSION (without v) UID:GID.
set -eu
version="$1"
owner="$2"
apk add --no-cache git autoconf make build-base bison m4 flex ncurses-dev ncurses-static \
  readline-dev readline-static libssh-dev linux-headers
git clone --depth 1 -b "v$version" https://github.com/CZ-NIC/bird.git /src
cd /src
autoreconf
CFLAGS='-static -s' LDFLAGS=-static ./configure --prefix=/usr --exec_prefix=/usr --sbindir=/usr/bin \
  --sysconfdir=/etc/bird --localstatedir=/var --runstatedir=/run --with-iproutedir=/usr/share/iproute2
make -j"$(nproc)"
make DESTDIR=/install_root install
rm -rf /install_root/usr/etc
chown -R "$owner" /install_root/usr
