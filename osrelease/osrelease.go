package osrelease

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// Release is a parsed os-release style file: keys in file order plus values.
type Release struct {
	keys   []string
	values map[string]string
}

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads os-release syntax from r. A malformed line is an error naming
// its line number.
func Parse(r io.Reader) (*Release, error) {
	rel := &Release{values: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, raw, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: missing '=' in %q", n, line)
		}
		k = strings.TrimSpace(k)
		if !keyRE.MatchString(k) {
			return nil, fmt.Errorf("line %d: invalid key %q", n, k)
		}
		v, err := unquote(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: key %s: %w", n, k, err)
		}
		rel.Set(k, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading os-release data: %w", err)
	}
	return rel, nil
}

// ParseString is Parse on a string.
func ParseString(s string) (*Release, error) { return Parse(strings.NewReader(s)) }

// unquote undoes shell-style quoting of one os-release value.
func unquote(raw string) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(raw) {
		c := raw[i]
		switch c {
		case '\'':
			end := strings.IndexByte(raw[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated single quote")
			}
			b.WriteString(raw[i+1 : i+1+end])
			i += end + 2
		case '"':
			i++
			closed := false
			for i < len(raw) {
				c := raw[i]
				if c == '\\' && i+1 < len(raw) && strings.IndexByte("$\"\\`", raw[i+1]) >= 0 {
					b.WriteByte(raw[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return "", fmt.Errorf("unterminated double quote")
			}
		case '\\':
			if i+1 < len(raw) {
				b.WriteByte(raw[i+1])
				i += 2
			} else {
				i++
			}
		case ' ', '\t':
			// Unquoted whitespace ends the value (a trailing comment may follow).
			rest := strings.TrimSpace(raw[i:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return "", fmt.Errorf("unquoted whitespace in value %q", raw)
			}
			return b.String(), nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// Get returns the value of key, or "" when unset.
func (r *Release) Get(key string) string { return r.values[key] }

// Lookup returns the value of key and whether it is set.
func (r *Release) Lookup(key string) (string, bool) {
	v, ok := r.values[key]
	return v, ok
}

// Set sets key to value, keeping first-seen order.
func (r *Release) Set(key, value string) {
	if r.values == nil {
		r.values = map[string]string{}
	}
	if _, ok := r.values[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.values[key] = value
}

// Keys returns the keys in file order.
func (r *Release) Keys() []string { return append([]string(nil), r.keys...) }

// Map returns a copy of all fields.
func (r *Release) Map() map[string]string {
	m := make(map[string]string, len(r.values))
	for k, v := range r.values {
		m[k] = v
	}
	return m
}

// New builds a Release from fields, ordered by key name.
func New(fields map[string]string) *Release {
	r := &Release{values: map[string]string{}}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Set(k, fields[k])
	}
	return r
}

// Quote returns v as an os-release value: bare when it only has safe
// characters, else double-quoted with $ " \ ` escaped. It works on bytes,
// so a value that is not valid UTF-8 comes back unchanged from Parse.
func Quote(v string) string {
	safe := v != ""
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-+:/,=@%", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if strings.IndexByte("$\"\\`", v[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// String renders the release as KEY=VALUE lines in key order, quoting values
// where needed.
func (r *Release) String() string {
	var b strings.Builder
	for _, k := range r.keys {
		fmt.Fprintf(&b, "%s=%s\n", k, Quote(r.values[k]))
	}
	return b.String()
}
