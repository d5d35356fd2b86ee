package provision

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Kernel arguments of a Flatcar disk come from OEM /grub.cfg: Flatcar's
// GRUB config sets linux_append to "" and then sources the OEM partition's
// grub.cfg, whose `set linux_append="..."` lines (vendors write one, users
// append `set linux_append="$linux_append ARG"`) end up on the kernel
// command line (docs/provisioning.md).
const (
	// OEMGrubPath is the GRUB settings file in OEM.
	OEMGrubPath = "/grub.cfg"
	// AutologinArg logs the console in as core without a password.
	AutologinArg = "flatcar.autologin"
	// MaxGrubSize bounds the OEM grub.cfg bake-os reads.
	MaxGrubSize = 1 << 20
	// managedMarker precedes the line bake-os keeps the arguments it adds in.
	managedMarker = "# Kernel arguments added by bake-os (--kernel-arg)"
)

// linuxAppendLine is one `set linux_append=VALUE` line (any indentation).
var linuxAppendLine = regexp.MustCompile(`^(\s*)set\s+linux_append=(.*?)\s*$`)

// CheckKernelArg refuses an argument that cannot be one word of a
// double-quoted GRUB string: empty, white space, control characters,
// quotes, `$` (GRUB expands it), backslashes and `;`.
func CheckKernelArg(arg string) error {
	if arg == "" {
		return fmt.Errorf("kernel argument %q is empty", arg)
	}
	// Printable ASCII only: the kernel splits its command line on ASCII
	// blanks, grub.cfg on any white space (U+00A0 included).
	if i := strings.IndexFunc(arg, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"'`$\\;", r)
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(arg[i:])
		return fmt.Errorf("kernel argument %q holds %q, which the grub.cfg line cannot carry: give one argument of printable ASCII without white space, quotes, '$', '\\' or ';'", arg, r)
	}
	return nil
}

// grubLine is one line of a grub.cfg; a linux_append line is parsed.
type grubLine struct {
	text   string
	isSet  bool // a parsed `set linux_append=` line
	indent string
	quote  byte     // '"', '\'' or 0 (unquoted)
	words  []string // the value's words; "$linux_append" refers to the old value
}

func parseGrub(cfg string) []grubLine {
	if cfg == "" {
		return nil
	}
	var out []grubLine
	for _, l := range strings.SplitAfter(cfg, "\n") {
		if l == "" {
			continue
		}
		gl := grubLine{text: l}
		if m := linuxAppendLine.FindStringSubmatch(strings.TrimSuffix(l, "\n")); m != nil {
			v := m[2]
			switch {
			case len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] && !strings.ContainsRune(v[1:len(v)-1], rune(v[0])):
				gl.isSet, gl.quote, gl.words = true, v[0], strings.Fields(v[1:len(v)-1])
			case !strings.ContainsAny(v, "\"' \t;"):
				gl.isSet, gl.words = true, strings.Fields(v)
			}
			gl.indent = m[1]
		}
		out = append(out, gl)
	}
	return out
}

func isSelfRef(w string) bool { return w == "$linux_append" || w == "${linux_append}" }

// evaluate runs the linux_append lines in order (lines inside if blocks
// as if their condition held) and returns the resulting words.
func evaluate(lines []grubLine) []string {
	var cur []string
	for _, l := range lines {
		if !l.isSet {
			continue
		}
		var next []string
		for _, w := range l.words {
			if isSelfRef(w) && l.quote != '\'' {
				next = append(next, cur...)
			} else {
				next = append(next, w)
			}
		}
		cur = next
	}
	return cur
}

// KernelArgs are the arguments a grub.cfg appends to the kernel command
// line (its linux_append, evaluated).
func KernelArgs(cfg string) []string {
	args := evaluate(parseGrub(cfg))
	if args == nil {
		args = []string{}
	}
	return args
}

// RemovesKernelArg says whether --kernel-arg-remove rm drops word w: rm
// with a value matches exactly, a bare name also matches name=anything.
func RemovesKernelArg(rm, w string) bool {
	return w == rm || (!strings.Contains(rm, "=") && strings.HasPrefix(w, rm+"="))
}

func (l grubLine) render() string {
	q := string(l.quote)
	if l.quote == 0 {
		q = `"`
	}
	return l.indent + "set linux_append=" + q + strings.Join(l.words, " ") + q + "\n"
}

// KernelArgsEdit is what EditKernelArgs did.
type KernelArgsEdit struct {
	Config    string   // the new grub.cfg
	Added     []string // arguments appended
	Removed   []string // words dropped
	Effective []string // the kernel arguments of Config
	Changed   bool
}

// EditKernelArgs merges arguments into a grub.cfg the way Flatcar's own
// files do it, keeping every other line: each word rm of remove (or, for
// a bare name, rm=...) is dropped from every linux_append line; each
// argument of add the resulting command line lacks is appended on one
// line bake-os keeps at the end of the file,
// `set linux_append="$linux_append ARG..."`, after a marker comment. Run
// again with the same arguments it changes nothing. Arguments must pass
// CheckKernelArg.
func EditKernelArgs(cfg string, add, remove []string) (KernelArgsEdit, error) {
	for _, a := range append(slices.Clone(add), remove...) {
		if err := CheckKernelArg(a); err != nil {
			return KernelArgsEdit{}, err
		}
	}
	for _, a := range add {
		for _, rm := range remove {
			if RemovesKernelArg(rm, a) {
				return KernelArgsEdit{}, fmt.Errorf("kernel argument %s is both added and removed (--kernel-arg-remove %s)", a, rm)
			}
		}
	}
	lines := parseGrub(cfg)
	var res KernelArgsEdit
	// Removals, on every line.
	for i := range lines {
		l := &lines[i]
		if !l.isSet {
			continue
		}
		kept := l.words[:0:0]
		for _, w := range l.words {
			drop := false
			for _, rm := range remove {
				drop = drop || (!isSelfRef(w) && RemovesKernelArg(rm, w))
			}
			if drop {
				if !slices.Contains(res.Removed, w) {
					res.Removed = append(res.Removed, w)
				}
				continue
			}
			kept = append(kept, w)
		}
		if len(kept) != len(l.words) {
			l.words = kept
			l.text = l.render()
			res.Changed = true
		}
	}
	// The managed line: the set line right after the marker.
	managed := -1
	for i := 0; i+1 < len(lines); i++ {
		if strings.TrimSpace(lines[i].text) == managedMarker && lines[i+1].isSet {
			managed = i + 1
		}
	}
	have := evaluate(lines)
	for _, a := range add {
		if !slices.Contains(have, a) && !slices.Contains(res.Added, a) {
			res.Added = append(res.Added, a)
		}
	}
	last := -1
	for i, l := range lines {
		if l.isSet {
			last = i
		}
	}
	if len(res.Added) > 0 {
		words := []string{"$linux_append"}
		if managed >= 0 {
			words = lines[managed].words
			if managed != last {
				// A later line would override it: move it to the end.
				lines = append(lines[:managed-1:managed-1], lines[managed+1:]...)
				managed = -1
			}
		}
		words = slices.Clone(words)
		for _, a := range res.Added {
			if !slices.Contains(words, a) {
				words = append(words, a)
			}
		}
		nl := grubLine{isSet: true, quote: '"', words: words}
		nl.text = nl.render()
		if managed >= 0 {
			nl.indent, nl.quote = lines[managed].indent, lines[managed].quote
			nl.text = nl.render()
			lines[managed] = nl
		} else {
			if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1].text, "\n") {
				lines[n-1].text += "\n"
			}
			lines = append(lines, grubLine{text: managedMarker + "\n"}, nl)
		}
		res.Changed = true
	}
	// A managed line left with nothing to add is a no-op: drop it.
	var out strings.Builder
	for i, l := range lines {
		if l.isSet && len(l.words) == 1 && isSelfRef(l.words[0]) && l.quote != '\'' {
			res.Changed = true
			continue
		}
		if strings.TrimSpace(l.text) == managedMarker && i+1 < len(lines) && lines[i+1].isSet &&
			len(lines[i+1].words) == 1 && isSelfRef(lines[i+1].words[0]) {
			continue
		}
		out.WriteString(l.text)
	}
	res.Config = out.String()
	if !res.Changed {
		res.Config = cfg
	}
	res.Effective = KernelArgs(res.Config)
	return res, nil
}

// ManagedKernelArgs are the arguments on the line bake-os keeps in cfg
// (what earlier bakes added), for a vendor's fresh grub.cfg to carry.
func ManagedKernelArgs(cfg string) []string {
	lines := parseGrub(cfg)
	var out []string
	for i := 0; i+1 < len(lines); i++ {
		if strings.TrimSpace(lines[i].text) == managedMarker && lines[i+1].isSet {
			for _, w := range lines[i+1].words {
				if !isSelfRef(w) && CheckKernelArg(w) == nil && !slices.Contains(out, w) {
					out = append(out, w)
				}
			}
		}
	}
	return out
}
