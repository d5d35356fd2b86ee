package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/bake-os/bake-os/progress"
)

// reporter adapts progress.Reporter to progress bars on a terminal, and to
// plain start/done lines otherwise.
type reporter struct {
	w   io.Writer
	tty bool
}

func newReporter(w io.Writer, tty bool) progress.Reporter { return &reporter{w: w, tty: tty} }

func (r *reporter) Counter(desc string, total int64) progress.Counter {
	if r.tty {
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(r.w), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		return &barCounter{bar: bar}
	}
	fmt.Fprintf(r.w, "%s...\n", desc)
	return &lineCounter{w: r.w, desc: desc, start: time.Now()}
}

type barCounter struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func (c *barCounter) Add(n int64) { c.mu.Lock(); c.bar.Add64(n); c.mu.Unlock() }
func (c *barCounter) Done()       { c.mu.Lock(); c.bar.Finish(); c.mu.Unlock() }

type lineCounter struct {
	mu    sync.Mutex
	w     io.Writer
	desc  string
	n     int64
	start time.Time
	done  bool
}

func (c *lineCounter) Add(n int64) { c.mu.Lock(); c.n += n; c.mu.Unlock() }
func (c *lineCounter) Done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	fmt.Fprintf(c.w, "%s: done in %.1fs\n", c.desc, time.Since(c.start).Seconds())
}
