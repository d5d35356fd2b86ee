package httpget

import (
	"testing"
	"time"
)

func TestFileDeadlineScalesWithSize(t *testing.T) {
	c := &Client{}
	for size, want := range map[int64]time.Duration{
		0:         10 * time.Minute,
		100 << 20: 10*time.Minute + 100*time.Second,
		4 << 30:   10*time.Minute + 4096*time.Second,
	} {
		if got := c.FileDeadline(size); got != want {
			t.Errorf("%d bytes: %v, want %v", size, got, want)
		}
	}
	c.Timeout = 90 * time.Second
	if got := c.FileDeadline(4 << 30); got != 90*time.Second {
		t.Errorf("with --timeout: %v", got)
	}
}

func TestContentRange(t *testing.T) {
	if n, ok := contentRangeStart("bytes 100-199/200"); !ok || n != 100 {
		t.Error("start")
	}
	if n, ok := contentRangeTotal("bytes */200"); !ok || n != 200 {
		t.Error("total")
	}
	if _, ok := contentRangeStart("items 1-2/3"); ok {
		t.Error("bad unit accepted")
	}
}
