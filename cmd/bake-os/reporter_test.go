package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bake-os/bake-os/progress"
)

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func testReporter(ctx context.Context, tty bool, width int) (*reporter, *bytes.Buffer) {
	var b bytes.Buffer
	r := newReporter(ctx, &console{w: &b, tty: tty}, width).(*reporter)
	clk := &fakeClock{t: time.Unix(0, 0), step: 150 * time.Millisecond}
	r.now = clk.now
	return r, &b
}

// screenLines splits terminal output into what each redraw leaves on the
// line: bars are separated by "\r" and cleared with ESC[K.
func screenLines(s string) []string {
	s = strings.ReplaceAll(s, "\x1b[K", "")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.Split(l, "\r")...)
	}
	return out
}

const longPath = "/var/tmp/a-rather-long-directory-name/that-goes-on/and-on/output/" +
	".flatcar_production_vmware_ova_image_with_a_long_name.vmdk.1234567.tmp"

// TestReporterFitsWidth: every line a bar or a final line leaves fits
// the terminal (at most width-1 columns, so nothing wraps), names the
// final output rather than its temp file, and a bar is never drawn at zero
// width.
func TestReporterFitsWidth(t *testing.T) {
	for _, width := range []int{80, 60, 40, 20} {
		r, b := testReporter(context.Background(), true, width)
		for _, total := range []int64{10 << 30, -1} {
			c := r.Counter("writing "+longPath, total)
			for i := 0; i < 5; i++ {
				c.Add(3 << 30)
			}
			c.Done()
		}
		out := b.String()
		if !strings.Contains(out, "[") && width >= 60 {
			t.Errorf("width %d: no bar drawn:\n%s", width, out)
		}
		for _, l := range screenLines(out) {
			if n := utf8.RuneCountInString(l); n > width-1 {
				t.Errorf("width %d: line of %d columns: %q", width, n, l)
			}
			if strings.Contains(l, ".tmp") || strings.Contains(l, "/var/tmp") {
				t.Errorf("width %d: temp path shown: %q", width, l)
			}
			if strings.Contains(l, "[]") {
				t.Errorf("width %d: zero-width bar: %q", width, l)
			}
		}
		// The bar keeps its width from one redraw to the next.
		ends := map[int]bool{}
		for _, l := range screenLines(out) {
			if i := strings.Index(l, "] "); i > 0 && strings.Contains(l, "%") {
				ends[i] = true
			}
		}
		if width >= 60 && len(ends) != 1 {
			t.Errorf("width %d: bar ends at columns %v", width, ends)
		}
		if width == 80 && !strings.Contains(out, "writing flatcar_production_") {
			t.Errorf("final name not shown:\n%s", out)
		}
	}
}

// TestReporterPlainLines: without a terminal, one line per step, naming
// the final file.
func TestReporterPlainLines(t *testing.T) {
	r, b := testReporter(context.Background(), false, 0)
	c := r.Counter("compressing "+longPath, 100)
	c.Add(60)
	c.Add(40)
	c.Done()
	c.Done() // a second Done prints nothing
	r.Counter("preparing disk-vm-qemu", -1).Done()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 || strings.Contains(b.String(), "\r") {
		t.Fatalf("want 2 plain lines, got %q", b.String())
	}
	if !strings.HasPrefix(lines[0], "bake-os: compressing flatcar_prod") || !strings.HasSuffix(lines[0], ".vmdk: done in 0.1s (100 B)") ||
		utf8.RuneCountInString(lines[0]) > 79 {
		t.Errorf("line %q", lines[0])
	}
	if lines[1] != "bake-os: preparing disk-vm-qemu: done in 0.1s" {
		t.Errorf("line %q", lines[1])
	}
}

// TestReporterCancelled: a step ended after its run was cancelled, or
// aborted with a cancellation, says so instead of "done".
func TestReporterCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, b := testReporter(ctx, false, 80)
	c := r.Counter("writing x.img", 100)
	c.Add(10)
	cancel()
	c.Done()
	if got := b.String(); !strings.Contains(got, "writing x.img: cancelled after") || strings.Contains(got, "done") {
		t.Errorf("after cancel: %q", got)
	}

	r, b = testReporter(context.Background(), false, 80)
	progress.Finish(r.Counter("compressing x.bz2", 10), context.Canceled)
	progress.Finish(r.Counter("writing y.vhd", 10), errors.New("disk full"))
	progress.Finish(r.Counter("writing z.vhd", 10), nil)
	want := "bake-os: compressing x.bz2: cancelled after 0.1s\n" +
		"bake-os: writing y.vhd: failed after 0.1s\n" +
		"bake-os: writing z.vhd: done in 0.1s\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFit(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abcdef", 10, "012...cdef"},
		{"0123456789", 3, "012"},
		{"x", 0, ""},
		{"x", -4, ""},
	} {
		if got := fit(c.in, c.n); got != c.want {
			t.Errorf("fit(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	if got := shortPaths("writing /a/b/.disk.img.123.tmp to /x/y.raw"); got != "writing disk.img to y.raw" {
		t.Errorf("shortPaths: %q", got)
	}
}
