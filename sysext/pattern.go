package sysext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// A sysupdate.d(5) MatchPattern is a file name with wildcards: "@v" is
// the version (letters, digits and ".,_+-"), "@u" a partition UUID, "@f"
// partition flags, "@a", "@r", "@g" a 0/1 flag, "@t", "@s", "@d", "@l"
// decimal numbers (mtime, size, tries done/left), "@m" an octal mode,
// "@h" a SHA-256 in hex; "@@" is a literal '@'. Before matching, systemd
// expands specifiers: "%a" is the architecture, "%%" a literal '%'.

type patElem struct {
	lit   string          // literal text, when class is nil
	class func(rune) bool // the characters a wildcard takes
	max   int             // exact length for fixed-size wildcards (0: any)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
func isHex(r rune) bool   { return isDigit(r) || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' }

func isVersionChar(r rune) bool {
	return isDigit(r) || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".,_+-", r)
}

func anyChar(r rune) bool { return r != '/' }

// compilePattern splits a MatchPattern into literals and wildcards; arch
// expands "%a" (other specifiers match any text).
func compilePattern(p, arch string) ([]patElem, error) {
	var out []patElem
	lit := func(s string) {
		if n := len(out); n > 0 && out[n-1].class == nil {
			out[n-1].lit += s
			return
		}
		out = append(out, patElem{lit: s})
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if (c != '@' && c != '%') || i+1 == len(p) {
			if c == '@' || c == '%' {
				return nil, fmt.Errorf("MatchPattern %q ends in a lone %c", p, c)
			}
			lit(p[i : i+1])
			continue
		}
		i++
		if c == '%' {
			switch p[i] {
			case '%':
				lit("%")
			case 'a':
				lit(arch)
			default:
				out = append(out, patElem{class: anyChar})
			}
			continue
		}
		switch p[i] {
		case '@':
			lit("@")
		case 'v':
			out = append(out, patElem{class: isVersionChar})
		case 'u':
			out = append(out, patElem{class: func(r rune) bool { return isHex(r) || r == '-' }})
		case 'f':
			out = append(out, patElem{class: func(r rune) bool { return isHex(r) || r == 'x' || r == 'X' }})
		case 'a', 'r', 'g':
			out = append(out, patElem{class: func(r rune) bool { return r == '0' || r == '1' }, max: 1})
		case 't', 's', 'd', 'l':
			out = append(out, patElem{class: isDigit})
		case 'm':
			out = append(out, patElem{class: func(r rune) bool { return r >= '0' && r <= '7' }})
		case 'h':
			out = append(out, patElem{class: isHex, max: 64})
		default:
			return nil, fmt.Errorf("MatchPattern %q has an unknown wildcard @%c", p, p[i])
		}
	}
	return out, nil
}

// MatchPattern reports whether the file name name matches the
// sysupdate.d MatchPattern pattern on an arch host. It errs on the side
// of a match: unknown specifiers match any text.
func MatchPattern(pattern, name, arch string) (bool, error) {
	els, err := compilePattern(pattern, arch)
	if err != nil {
		return false, err
	}
	return matchElems(els, name), nil
}

func matchElems(els []patElem, s string) bool {
	// memo[i][j]: 0 unknown, 1 match, 2 no match of els[i:] against s[j:];
	// it keeps adjacent wildcards from backtracking exponentially.
	memo := make([][]int8, len(els)+1)
	for i := range memo {
		memo[i] = make([]int8, len(s)+1)
	}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(els) {
			return j == len(s)
		}
		if m := memo[i][j]; m != 0 {
			return m == 1
		}
		ok := false
		e := els[i]
		if e.class == nil {
			ok = strings.HasPrefix(s[j:], e.lit) && match(i+1, j+len(e.lit))
		} else {
			// A wildcard takes at least one character of its class.
			for k := j; k < len(s); {
				r, w := utf8.DecodeRuneInString(s[k:])
				if !e.class(r) {
					break
				}
				k += w
				if e.max > 0 && k-j > e.max {
					break
				}
				if (e.max == 0 || k-j == e.max) && match(i+1, k) {
					ok = true
					break
				}
			}
		}
		memo[i][j] = 2
		if ok {
			memo[i][j] = 1
		}
		return ok
	}
	return match(0, 0)
}

// PatternsMatch reports whether any of patterns matches name; an empty
// list matches (nothing to check).
func PatternsMatch(patterns []string, name, arch string) (bool, error) {
	if len(patterns) == 0 {
		return true, nil
	}
	for _, p := range patterns {
		// A pattern may name a subdirectory: the file name is its last
		// component.
		if i := strings.LastIndex(p, "/"); i >= 0 {
			p = p[i+1:]
		}
		ok, err := MatchPattern(p, name, arch)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
