// Package fetch owns getting Flatcar release artefacts and bakery sysexts
// onto the local disk, verified, and keeping them in a cache.
//
// # What it owns
//
//   - Release resolution: a channel name (alpha, beta, stable, lts) or a
//     MAJOR.MINOR.PATCH version becomes a ReleaseRef (version, channel,
//     board, base URL). Channels resolve through the releases index
//     (releases.json), falling back to {board}/current/version.txt.
//   - Download: HTTP with timeouts, retries with backoff on transient
//     failures (5xx, connection resets, truncated bodies), resume with Range
//     into a ".partial" file in the cache, a User-Agent, progress through a
//     progress.Reporter.
//   - Verification before use: every release file has a detached binary
//     OpenPGP signature (FILE.sig) checked against the embedded Flatcar key
//     (pinned primary fingerprint) or a key file the user supplies; when
//     FILE.DIGESTS is served, its SHA512 must match too. Bakery sysexts must
//     be listed with the same SHA256 in the bakery's SHA256SUMS. There is no
//     option that skips verification.
//   - The cache: verified files are kept under Options.CacheDir, written
//     atomically (temp file + rename), and re-verified every time they are
//     reused, so a second identical run makes no network request.
//     Options.Offline forbids the network and names what is missing.
//
// fetch delivers files on disk; it does not decompress the image (package
// decompress does), and it never prints.
//
// # Cache layout
//
//	CACHE/files/<host>/<url path>        a verified file (final name)
//	CACHE/files/<host>/<url path>.sig    its signature (release files)
//	CACHE/files/<host>/<url path>.DIGESTS         when the server had one
//	CACHE/files/<host>/<url path>.SHA256SUMS      bakery files: the sums used
//	CACHE/files/<host>/<url path>.partial         an unfinished download
//
// A file's final name appears last, after its companions, so its presence
// means the whole set was fetched; a missing .DIGESTS beside it means the
// server had none. The releases index and current/version.txt change over
// time and are reused for IndexMaxAge only (any age when Offline).
package fetch
