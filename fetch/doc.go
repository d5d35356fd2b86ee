// Package fetch owns getting Flatcar release artefacts and bakery sysexts
// onto the local disk, verified, and keeping them in a cache.
//
// # What it owns
//
//   - Release resolution: a channel name (alpha, beta, stable, lts) or a
//     MAJOR.MINOR.PATCH version becomes a ReleaseRef (version, channel,
//     board, base URL). Channels resolve through the releases index
//     (releases.json), falling back to {board}/current/version.txt.
//   - Download limits: each file's whole download has a deadline (10
//     minutes plus one second per MiB, or Options.Timeout) besides the
//     per-try stall timeout, and a size cap (16 MiB for checksums,
//     signatures, indexes and confs, 4 GiB for a sysext, 16 GiB for a
//     release file): a Content-Length or a body beyond the cap aborts and
//     removes the partial file; one past its deadline stays resumable.
//   - Download: through internal/httpget (timeouts, retries with backoff
//     on transient failures, resume with Range, a User-Agent, progress),
//     into a ".partial" file in the cache; fetch sets the size caps.
//   - Verification before use: every release file has a detached binary
//     OpenPGP signature (FILE.sig) checked against the embedded Flatcar key
//     (pinned primary fingerprint) or a key file the user supplies; when
//     FILE.DIGESTS is served, its SHA512 must match too. Bakery sysexts must
//     be listed with the same SHA256 in the bakery's SHA256SUMS, and so must
//     the NAME.conf served beside them (an unlisted conf is refused). There
//     is no option that skips verification.
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
//	CACHE/files/<host>/<url path>.lock            only while a run works on it
//
// A file's final name appears last, after its companions, so its presence
// means the whole set was fetched; a missing .DIGESTS beside it means the
// server had none. The releases index and current/version.txt change over
// time and are reused for IndexMaxAge only (any age when Offline).
package fetch
