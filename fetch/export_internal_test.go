package fetch

import "time"

// SetRetryBackoffForTest shortens the wait between tries for black-box
// tests; it returns a function restoring the default.
func SetRetryBackoffForTest(d time.Duration) func() {
	baseBackoff = d
	return func() { baseBackoff = defaultBackoff }
}
