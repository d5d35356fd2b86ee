// Package httpget owns getting files over HTTP, the one way bake-os does
// it: release images and signatures (fetch), recipe downloads and version
// lists (sysext build), and the published-SHA256SUMS check of a sysext
// release.
//
// A Client sends a User-Agent (and, for matching URLs, extra headers such
// as a GitHub token), retries transient failures (connection errors,
// timeouts, 5xx, 408, 429, a body cut short) with exponential backoff, and
// resumes a file download with a Range request. Three limits bound a
// transfer: a stall timeout (no body byte for a minute aborts the try), a
// deadline for the whole file (every try included; scaled to its size
// unless set), and a size cap checked against Content-Length and against
// the bytes received. A 404 or 410 is ErrNotFound at once, never retried.
// Requests and retries are logged at debug level.
package httpget
