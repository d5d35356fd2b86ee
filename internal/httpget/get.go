package httpget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bake-os/bake-os/internal/runlog"
	"github.com/bake-os/bake-os/progress"
)

// Retry policy: up to maxAttempts tries without progress, waiting
// Client.Backoff, 2x, 4x ... (at most maxBackoff) in between. A try that
// received bytes does not count, so a long download over a flaky link
// keeps resuming.
const (
	maxAttempts         = 5
	maxTries            = 100 // in all, even when every try makes progress
	DefaultBackoff      = 250 * time.Millisecond
	maxBackoff          = 8 * time.Second
	DefaultStallTimeout = 60 * time.Second // no body bytes for this long: retry

	// A file's whole download (every try) must end within baseDeadline
	// plus one second per deadlineRate bytes of its size (the size cap
	// while the size is unknown), unless Client.Timeout says otherwise.
	baseDeadline = 10 * time.Minute
	deadlineRate = 1 << 20
)

// ErrNotFound means the server answered 404 or 410.
var ErrNotFound = errors.New("not found")

// ErrTooLarge means a file is larger than its size cap.
var ErrTooLarge = errors.New("too large")

// deadlineError means a file's download took longer than its deadline.
type deadlineError struct{ d time.Duration }

func (e *deadlineError) Error() string {
	return fmt.Sprintf("not complete within %v (raise it with --timeout)", e.d)
}

// errNotFound is what a 404 or 410 gives.
var errNotFound = fmt.Errorf("server answered 404: %w", ErrNotFound)

// errStalled means no body bytes arrived for the stall timeout.
var errStalled = errors.New("transfer stalled")

// statusError is an unexpected HTTP status.
type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return "server answered " + e.status }

// NewHTTPClient returns an *http.Client with connect, TLS and
// response-header timeouts, the default of Client.HTTP.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// Client gets files over HTTP. The zero value is ready to use.
type Client struct {
	// HTTP defaults to a client with connect, TLS and header timeouts.
	HTTP *http.Client
	// UserAgent is sent with every request; default "bake-os".
	UserAgent string
	// Header, when set, may add headers to each request (e.g. a token for
	// one host).
	Header func(*http.Request)
	// Timeout bounds each file's whole download, every retry included; 0
	// means 10 minutes plus one second per MiB of the file's size (its
	// size cap while the size is unknown).
	Timeout time.Duration
	// Backoff is the first wait between tries (default DefaultBackoff);
	// StallTimeout how long a try may receive nothing (default
	// DefaultStallTimeout). Tests shorten them.
	Backoff      time.Duration
	StallTimeout time.Duration
	// Reporter shows download progress; default none.
	Reporter progress.Reporter
	// Log gets a debug line per retry; default the context's logger.
	Log *slog.Logger
}

var defaultClient = NewHTTPClient()

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultClient
}

func (c *Client) backoff() time.Duration {
	if c.Backoff > 0 {
		return c.Backoff
	}
	return DefaultBackoff
}

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout > 0 {
		return c.StallTimeout
	}
	return DefaultStallTimeout
}

func (c *Client) log(ctx context.Context) *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return runlog.From(ctx)
}

// FileDeadline is the time a file of size bytes may take in all.
func (c *Client) FileDeadline(size int64) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return baseDeadline + time.Duration(size/deadlineRate)*time.Second
}

// withDeadline bounds a whole download of a file of at most limit bytes.
// sized tightens the deadline once the file's real size is known.
func (c *Client) withDeadline(ctx context.Context, limit int64) (_ context.Context, sized func(total int64), stop func()) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	d := c.FileDeadline(limit)
	t := time.AfterFunc(d, func() { cancel(&deadlineError{d}) })
	sized = func(total int64) {
		if c.Timeout > 0 || total < 0 {
			return
		}
		nd := c.FileDeadline(total)
		if t.Stop() {
			d = nd
			t = time.AfterFunc(max(0, nd-time.Since(start)), func() { cancel(&deadlineError{nd}) })
		}
	}
	return ctx, sized, func() { t.Stop(); cancel(nil) }
}

// transient reports whether err is worth another try.
func transient(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, errStalled) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retry runs try until it succeeds, fails for good, or fails maxAttempts
// times in a row without progress.
func (c *Client) retry(ctx context.Context, url string, try func() (progressed bool, err error)) error {
	fails := 0
	for tries := 1; ; tries++ {
		progressed, err := try()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !transient(err) {
			return err
		}
		if progressed {
			fails = 0
		}
		fails++
		if fails >= maxAttempts || tries >= maxTries {
			return fmt.Errorf("giving up after %d tries: %w", tries, err)
		}
		wait := min(c.backoff()<<(fails-1), maxBackoff)
		c.log(ctx).Debug("retrying download", "url", url, "err", err, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

func (c *Client) request(ctx context.Context, url string, rangeFrom int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	c.setHeaders(req)
	if rangeFrom > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", rangeFrom))
	}
	resp, err := c.http().Do(req)
	return resp, stripURL(err)
}

func (c *Client) setHeaders(req *http.Request) {
	ua := c.UserAgent
	if ua == "" {
		ua = "bake-os"
	}
	req.Header.Set("User-Agent", ua)
	if c.Header != nil {
		c.Header(req)
	}
}

// stripURL drops the *url.Error wrapper ("Get \"URL\": ..."): callers
// name the URL once themselves.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Small fetches url into memory, at most limit bytes, with retries (each
// try starts from zero). A 404 or 410 gives an error matching ErrNotFound.
func (c *Client) Small(ctx context.Context, url string, limit int64) ([]byte, error) {
	data, _, err := c.SmallHeader(ctx, url, limit)
	return data, err
}

// SmallHeader is Small that also returns the response's header (e.g. a
// Link header for paging).
func (c *Client) SmallHeader(ctx context.Context, url string, limit int64) ([]byte, http.Header, error) {
	var data []byte
	var header http.Header
	ctx, sized, stop := c.withDeadline(ctx, limit)
	defer stop()
	err := c.retry(ctx, url, func() (bool, error) {
		actx, wd, stop := c.newWatchdog(ctx)
		defer stop()
		resp, err := c.request(actx, url, 0)
		if err != nil {
			return false, wd.err(err)
		}
		defer resp.Body.Close()
		if err := checkStatus(resp); err != nil {
			return false, err
		}
		if resp.ContentLength > limit {
			return false, fmt.Errorf("%w: server announces %d bytes, at most %d are allowed", ErrTooLarge, resp.ContentLength, limit)
		}
		sized(resp.ContentLength)
		header = resp.Header
		var buf bytes.Buffer
		_, err = copyBody(&buf, io.LimitReader(resp.Body, limit+1), wd, progress.Nop().Counter("", 0))
		data = buf.Bytes()
		if err != nil {
			return false, err // small files restart from zero
		}
		if int64(len(data)) > limit {
			return false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		return false, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("downloading %s: %w", url, err)
	}
	return data, header, nil
}

// Missing reports whether a HEAD request for url says 404 or 410.
func (c *Client) Missing(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return false
	}
	c.setHeaders(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone
}

func checkStatus(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		return nil
	case http.StatusNotFound, http.StatusGone:
		return errNotFound
	}
	return &statusError{code: resp.StatusCode, status: resp.Status}
}

// Download fetches url into partial, resuming from partial's current size
// with a Range request. On success partial holds the whole body, synced.
// A body beyond limit bytes (announced or received) aborts the download
// and removes partial; a download past its deadline keeps partial (at
// most limit bytes) for the next run to resume.
func (c *Client) Download(ctx context.Context, url, partial, desc string, limit int64) (err error) {
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", desc, err)
	}
	defer f.Close()
	defer func() {
		if errors.Is(err, ErrTooLarge) {
			f.Close()
			os.Remove(partial)
		}
	}()
	ctx, sized, stop := c.withDeadline(ctx, limit)
	defer stop()
	var counter progress.Counter
	defer func() {
		if counter != nil {
			counter.Done()
		}
	}()
	err = c.retry(ctx, url, func() (bool, error) {
		off, err := f.Seek(0, io.SeekEnd)
		if err == nil && off > limit {
			err = fmt.Errorf("%w: partial file already holds %d bytes, at most %d are allowed", ErrTooLarge, off, limit)
		}
		if err != nil {
			return false, err
		}
		actx, wd, stop := c.newWatchdog(ctx)
		defer stop()
		resp, err := c.request(actx, url, off)
		if err != nil {
			return false, wd.err(err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
			// The partial is complete, or longer than the file now is.
			if total, ok := contentRangeTotal(resp.Header.Get("Content-Range")); ok && total == off {
				return false, nil
			}
			return false, restart(f, "server refused to resume")
		case resp.StatusCode == http.StatusOK && off > 0:
			// The server ignored Range: start over.
			if err := f.Truncate(0); err != nil {
				return false, err
			}
			off = 0
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return false, err
			}
		case resp.StatusCode == http.StatusPartialContent:
			if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
				return false, restart(f, "server sent another range")
			}
		default:
			if err := checkStatus(resp); err != nil {
				return false, err
			}
		}
		total := int64(-1)
		if resp.ContentLength >= 0 {
			total = off + resp.ContentLength
		}
		if total > limit {
			return false, fmt.Errorf("%w: server announces %d bytes, at most %d are allowed", ErrTooLarge, total, limit)
		}
		sized(total)
		if counter == nil {
			counter = progress.OrNop(c.Reporter).Counter("downloading "+desc, total)
			counter.Add(off)
		}
		n, err := copyBody(f, io.LimitReader(resp.Body, limit-off+1), wd, counter)
		if off+n > limit {
			return false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		if err != nil {
			return n > 0, err
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return n > 0, io.ErrUnexpectedEOF
		}
		return n > 0, nil
	})
	if err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("downloading %s: %s: %w", desc, url, err)
		}
		return fmt.Errorf("downloading %s from %s: %w", desc, url, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("downloading %s: %w", desc, err)
	}
	return nil
}

// restart empties the partial file and returns a transient error so that
// the next try starts from zero.
func restart(f *os.File, why string) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", why, io.ErrUnexpectedEOF)
}

// watchdog cancels a try when no body byte arrives for the stall timeout.
type watchdog struct {
	timer   *time.Timer
	stall   time.Duration
	stalled atomic.Bool
}

func (c *Client) newWatchdog(ctx context.Context) (context.Context, *watchdog, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{stall: c.stallTimeout()}
	w.timer = time.AfterFunc(w.stall, func() {
		w.stalled.Store(true)
		cancel()
	})
	return ctx, w, func() {
		w.timer.Stop()
		cancel()
	}
}

// err turns the cancellation it caused into errStalled.
func (w *watchdog) err(err error) error {
	if err != nil && w.stalled.Load() {
		return errStalled
	}
	return err
}

// copyBody copies body to w, kicking the watchdog on every read.
func copyBody(dst io.Writer, body io.Reader, wd *watchdog, counter progress.Counter) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := body.Read(buf)
		if k > 0 {
			wd.timer.Reset(wd.stall)
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			counter.Add(int64(k))
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, wd.err(err)
		}
	}
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// contentRangeTotal parses the TOTAL of "bytes */TOTAL" or "bytes A-B/TOTAL".
func contentRangeTotal(v string) (int64, bool) {
	_, t, ok := strings.Cut(v, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, err == nil
}
