package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bake-os/bake-os/progress"
)

// reporter adapts progress.Reporter to the console: on a terminal a bar
// redrawn in place that fits the terminal's width, then one final line per
// step; otherwise only the final line ("DESC: done in 2.1s (1.2 GiB)").
// A step that ends after its context was cancelled says "cancelled".
type reporter struct {
	ctx   context.Context
	con   *console
	width int // terminal columns
	now   func() time.Time
}

// minBarWidth is the narrowest bar drawn; below it the bar is left out
// rather than drawn at zero width.
const minBarWidth = 10

func newReporter(ctx context.Context, con *console, width int) progress.Reporter {
	if width <= 0 {
		width = 80
	}
	return &reporter{ctx: ctx, con: con, width: width, now: time.Now}
}

func (r *reporter) Counter(desc string, total int64) progress.Counter {
	return &counter{r: r, desc: shortPaths(desc), total: total, start: r.now()}
}

type counter struct {
	r     *reporter
	desc  string
	total int64

	mu    sync.Mutex
	n     int64
	start time.Time
	drawn time.Time
	ended bool
}

func (c *counter) Add(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += n
	if !c.r.con.tty || c.ended {
		return
	}
	if now := c.r.now(); now.Sub(c.drawn) >= 100*time.Millisecond {
		c.drawn = now
		c.r.con.drawBar(c.r.barLine(c.desc, c.n, c.total, now.Sub(c.start)))
	}
}

// Done ends the step; after a cancelled context it reports "cancelled".
func (c *counter) Done() { c.end(nil) }

// Abort ends the step as failed, or cancelled when err is a cancellation
// (progress.Finish calls it).
func (c *counter) Abort(err error) {
	if err == nil {
		err = errors.New("failed")
	}
	c.end(err)
}

func (c *counter) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.ended = true
	took := c.r.now().Sub(c.start)
	state := fmt.Sprintf("done in %s", seconds(took))
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		c.r.ctx != nil && c.r.ctx.Err() != nil:
		state = fmt.Sprintf("cancelled after %s", seconds(took))
	case err != nil:
		state = fmt.Sprintf("failed after %s", seconds(took))
	}
	if c.n > 0 {
		state += " (" + byteSize(c.n) + ")"
	}
	cols := c.r.width - 1
	budget := cols - len("bake-os: : ") - len(state)
	c.r.con.printLine(fit("bake-os: "+fitDesc(c.desc, budget)+": "+state, cols))
}

// barLine renders one bar line of at most width-1 columns (the last
// column is left free so that no terminal wraps the line):
// "DESC [=====>     ]  45% 1.2 GiB/2.7 GiB", or "DESC 1.2 GiB 12s" when
// the total is unknown.
func (r *reporter) barLine(desc string, n, total int64, elapsed time.Duration) string {
	return fit(r.bar(desc, n, total, elapsed), r.width-1)
}

func (r *reporter) bar(desc string, n, total int64, elapsed time.Duration) string {
	cols := r.width - 1
	if total <= 0 {
		stats := " " + seconds(elapsed)
		if n > 0 {
			stats = " " + byteSize(n) + stats
		}
		return fitDesc(desc, cols-len(stats)) + stats
	}
	n = min(n, total)
	// Fixed-width numbers keep the bar's width steady between redraws.
	stats := fmt.Sprintf(" %3d%% %9s/%-9s", n*100/total, byteSize(n), byteSize(total))
	descCols := cols - len(stats) - minBarWidth - 3 // " [" and "]"
	if descCols < 8 {
		// Too narrow for a bar: description and numbers only.
		return fitDesc(desc, cols-len(stats)) + stats
	}
	d := fitDesc(desc, min(descCols, 40))
	bw := min(cols-utf8.RuneCountInString(d)-len(stats)-3, 50)
	fill := int(int64(bw) * n / total)
	bar := strings.Repeat("=", fill)
	if fill < bw {
		bar += ">" + strings.Repeat(" ", bw-fill-1)
	}
	return d + " [" + bar + "]" + stats
}

// tempName matches the temp files outputs are staged in
// (".FINAL.RANDOM.tmp"): progress names the final file.
var tempName = regexp.MustCompile(`^\.(.+)\.[0-9]+\.tmp$`)

// shortPaths replaces each path in desc by its base name, and a staged
// temp file by the name it will be renamed to.
func shortPaths(desc string) string {
	words := strings.Split(desc, " ")
	for i, w := range words {
		if strings.Contains(w, "/") {
			w = filepath.Base(w)
		}
		if m := tempName.FindStringSubmatch(w); m != nil {
			w = m[1]
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// fitDesc shortens a step description "VERB NAME..." to n columns,
// keeping the verb whole where it can.
func fitDesc(desc string, n int) string {
	verb, rest, ok := strings.Cut(desc, " ")
	if !ok || utf8.RuneCountInString(desc) <= n || len(verb)+1+5 > n {
		return fit(desc, n)
	}
	return verb + " " + fit(rest, n-len(verb)-1)
}

// fit shortens s to at most n columns, keeping its start and end around
// "...".
func fit(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	if n < 5 {
		return string(rs[:max(n, 0)])
	}
	head := (n - 3) / 2
	tail := n - 3 - head
	return string(rs[:head]) + "..." + string(rs[len(rs)-tail:])
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// byteSize formats n bytes in binary units, at most 9 columns.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n)/unit, 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[u])
}
