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

// Counter counts progress of one step.
type Counter interface {
	Add(n int64)
	Done()
}

// Nop returns a Reporter that reports nothing.
func Nop() Reporter { return nop{} }

type nop struct{}

func (nop) Counter(string, int64) Counter { return nopCounter{} }

type nopCounter struct{}

func (nopCounter) Add(int64) {}
func (nopCounter) Done()     {}

// OrNop returns r, or Nop when r is nil.
func OrNop(r Reporter) Reporter {
	if r == nil {
		return Nop()
	}
	return r
}
