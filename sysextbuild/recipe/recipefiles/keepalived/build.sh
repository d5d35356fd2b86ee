#!/bin/sh
# Static keepalived build, run inside docker.io/alpine with the work dir
# mounted at /install_root. Arguments: VERSION (git tag) UID:GID.
set -eu
version="$1"
owner="$2"
apk add --no-cache binutils file file-dev gcc glib glib-dev ipset ipset-dev iptables iptables-dev \
  libmagic-static libmnl-dev libmnl-static libnftnl-dev libnl3-static libnl3-dev make musl-dev \
  net-snmp-dev openssl-dev openssl-libs-static pcre2 pcre2-dev autoconf automake zlib-static \
  alpine-sdk linux-headers git
git clone https://github.com/acassen/keepalived.git /src
cd /src
git checkout "$version"
./autogen.sh
CFLAGS='-static -s' LDFLAGS=-static ./configure --disable-dynamic-linking \
  --prefix=/usr --exec-prefix=/usr --bindir=/usr/bin --sbindir=/usr/sbin --sysconfdir=/usr/etc \
  --datadir=/usr/share --localstatedir=/var --mandir=/usr/share/man \
  --enable-bfd --enable-nftables --enable-regex --enable-json --with-init=systemd \
  --enable-vrrp --enable-libnl-dynamic
make -j"$(nproc)"
make DESTDIR=/install_root install
rm -rf /install_root/usr/share /install_root/usr/etc/keepalived/samples
chown -R "$owner" /install_root/usr
