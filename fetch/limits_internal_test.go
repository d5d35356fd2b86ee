package fetch

import (
	"testing"
	"time"
)

func TestFileDeadlineScalesWithSize(t *testing.T) {
	c := &client{}
	for size, want := range map[int64]time.Duration{
		0:         10 * time.Minute,
		100 << 20: 10*time.Minute + 100*time.Second,
		4 << 30:   10*time.Minute + 4096*time.Second,
	} {
		if got := c.fileDeadline(size); got != want {
			t.Errorf("%d bytes: %v, want %v", size, got, want)
		}
	}
	c.timeout = 90 * time.Second
	if got := c.fileDeadline(4 << 30); got != 90*time.Second {
		t.Errorf("with --timeout: %v", got)
	}
}
