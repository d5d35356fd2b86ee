package sysext

// NoopConf is /etc/sysupdate.d/noop.conf as the sysext-bakery ships it: a
// transfer that never matches, so systemd-sysupdate runs without errors
// when only per-extension components (/etc/sysupdate.NAME.d) exist.
const NoopConf = `[Source]
Type=regular-file
Path=/
MatchPattern=invalid@v.raw

[Target]
Type=regular-file
Path=/
`
