package fetch_test

import (
	"testing"
	"time"

	"github.com/bake-os/bake-os/fetch"
)

// BenchmarkFetchImage measures a cold fetch (download over loopback +
// signature + SHA512 check + atomic commit) and a warm one (re-verification
// of the cached file only) of a 128 MiB image.
func BenchmarkFetchImage(b *testing.B) {
	const size = 128 << 20
	s := newFakeServer(b)
	k := newTestKey(b, time.Now().Add(-time.Hour), 0)
	s.publishRelease(k, "stable", "100.2.3", size)
	o := fetch.Options{
		Release:            "100.2.3",
		ReleaseURLTemplate: s.url("/{channel}"),
		SigningKeyFile:     k.keyFile(b),
	}
	b.Run("cold", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			o.CacheDir = b.TempDir()
			if _, err := fetch.FetchImage(b.Context(), o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		o.CacheDir = b.TempDir()
		if _, err := fetch.FetchImage(b.Context(), o); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			if _, err := fetch.FetchImage(b.Context(), o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
