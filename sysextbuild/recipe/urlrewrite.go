package recipe

import (
	"fmt"
	"strings"
)

// URLRewriteEnv is the environment variable holding default URL rewrites
// (FROM=TO pairs separated by spaces or commas).
const URLRewriteEnv = "BAKE_OS_URL_REWRITE"

// Rewrite replaces the prefix From of a URL by To, so users behind
// firewalls (and tests) can serve upstream artefacts from a mirror.
type Rewrite struct {
	From, To string
}

// ParseRewrite parses one FROM=TO rewrite.
func ParseRewrite(s string) (Rewrite, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok || from == "" || to == "" {
		return Rewrite{}, fmt.Errorf("invalid URL rewrite %q: use FROM=TO, e.g. https://github.com/=http://mirror.local/github/", s)
	}
	return Rewrite{From: from, To: to}, nil
}

// ParseRewrites parses a list of FROM=TO rewrites separated by spaces or
// commas, as found in BAKE_OS_URL_REWRITE.
func ParseRewrites(s string) ([]Rewrite, error) {
	var out []Rewrite
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		rw, err := ParseRewrite(f)
		if err != nil {
			return nil, err
		}
		out = append(out, rw)
	}
	return out, nil
}

// RewritesFromFlags combines the environment value (getenv of
// BAKE_OS_URL_REWRITE, applied after) with repeated --url-rewrite flags
// (applied first, so flags win over the environment).
func RewritesFromFlags(flags []string, getenv func(string) string) ([]Rewrite, error) {
	var out []Rewrite
	for _, f := range flags {
		rw, err := ParseRewrites(f)
		if err != nil {
			return nil, err
		}
		out = append(out, rw...)
	}
	if getenv != nil {
		rw, err := ParseRewrites(getenv(URLRewriteEnv))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", URLRewriteEnv, err)
		}
		out = append(out, rw...)
	}
	return out, nil
}

// RewriteURL applies the rewrite whose From is the longest prefix of u.
func RewriteURL(u string, rws []Rewrite) string {
	best := -1
	for i, rw := range rws {
		if strings.HasPrefix(u, rw.From) && (best < 0 || len(rw.From) > len(rws[best].From)) {
			best = i
		}
	}
	if best < 0 {
		return u
	}
	return rws[best].To + strings.TrimPrefix(u, rws[best].From)
}
