// Package progress owns the small reporting interface that core packages
// use instead of printing. Only cmd/ adapts it to a terminal progress bar
// (schollz/progressbar) or to plain log lines; tests use Nop.
package progress

// Reporter makes counters for long-running steps.
type Reporter interface {
	// Counter starts a step named desc that will process total units
	// (bytes, usually); total < 0 means unknown.
	Counter(desc string, total int64) Counter
}

// Counter counts progress of one step. Done ends the step; a reporter
// whose run was cancelled reports the step as cancelled rather than done.
type Counter interface {
	Add(n int64)
	Done()
}

// Aborter is implemented by counters that can end a step as failed (or
// cancelled, when err is context.Canceled) instead of done. Callers use
// Finish rather than asserting it.
type Aborter interface {
	Abort(err error)
}

// Finish ends the step c: Done when err is nil, else Abort(err) when c
// implements Aborter (and Done otherwise). Typical use:
//
//	c := rep.Counter("writing "+name, size)
//	defer func() { progress.Finish(c, err) }()
func Finish(c Counter, err error) {
	if a, ok := c.(Aborter); ok && err != nil {
		a.Abort(err)
		return
	}
	c.Done()
}

// Nop returns a Reporter that reports nothing.
func Nop() Reporter { return nop{} }

type nop struct{}

func (nop) Counter(string, int64) Counter { return nopCounter{} }

type nopCounter struct{}

func (nopCounter) Add(int64)   {}
func (nopCounter) Done()       {}
func (nopCounter) Abort(error) {}

// OrNop returns r, or Nop when r is nil.
func OrNop(r Reporter) Reporter {
	if r == nil {
		return Nop()
	}
	return r
}
