#!/bin/sh
# Static HAProxy build, run inside docker.io/alpine with the work dir
# mounted at /install_root. Arguments: VERSION UID:GID. The source tarball
# is verified against upstream's .sha256.
set -eu
version="$1"
owner="$2"
branch="$(echo "$version" | cut -d. -f1-2)"
apk add --no-cache build-base ca-certificates curl libcap-static linux-headers lua5.4-dev \
  openssl-dev openssl-libs-static pcre2-dev zlib-dev zlib-static
cd /tmp
url="https://www.haproxy.org/download/$branch/src/haproxy-$version.tar.gz"
curl -fsSLO "$url"
curl -fsSLO "$url.sha256"
sha256sum -c "haproxy-$version.tar.gz.sha256"
tar xzf "haproxy-$version.tar.gz"
cd "haproxy-$version"
make -j"$(nproc)" TARGET=linux-musl CPU_CFLAGS= CFLAGS='-static -s' LDFLAGS=-static \
  USE_OPENSSL=1 USE_QUIC=1 USE_QUIC_OPENSSL_COMPAT=1 USE_PCRE2=1 USE_PCRE2_JIT=1 USE_ZLIB=1 \
  USE_LUA=1 LUA_INC=/usr/include/lua5.4 LUA_LIB=/usr/lib/lua5.4 LUA_LIB_NAME=lua \
  USE_THREAD=1 USE_PTHREAD_EMULATION=1 USE_TFO=1 USE_NS=1 USE_GETADDRINFO=1 USE_LINUX_TPROXY=1 \
  USE_LINUX_SPLICE=1 USE_LINUX_CAP=1 USE_PROMEX=1 USE_CRYPT_H=1 USE_TRANSPARENT=1 USE_ACCEPT4=1 \
  USE_PRCTL=1 ADDLIB='-l:liblua.a'
make install-bin DESTDIR=/install_root PREFIX=/usr SBINDIR=/usr/bin
rm -rf /install_root/usr/share /install_root/usr/doc /install_root/etc
chown -R "$owner" /install_root/usr
