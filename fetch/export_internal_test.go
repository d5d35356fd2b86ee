package fetch

import (
	"time"

	"github.com/bake-os/bake-os/internal/httpget"
)

// SetRetryBackoffForTest shortens the wait between tries for black-box
// tests; it returns a function restoring the default.
func SetRetryBackoffForTest(d time.Duration) func() {
	baseBackoff = d
	return func() { baseBackoff = httpget.DefaultBackoff }
}

// SetStallTimeoutForTest shortens the no-progress timeout of a try.
func SetStallTimeoutForTest(d time.Duration) func() {
	stallTimeout = d
	return func() { stallTimeout = httpget.DefaultStallTimeout }
}

// SetSysextCapForTest lowers the size cap of a bakery sysext.
func SetSysextCapForTest(n int64) func() {
	maxSysextFile = n
	return func() { maxSysextFile = DefaultMaxSysextFile }
}
