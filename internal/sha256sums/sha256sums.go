// Package sha256sums owns the one reading and writing of sha256sum(1)
// checksum lists: the bakery's SHA256SUMS, the SHA256SUMS and
// SHA256SUMS.NAME that "sysext pack" and "sysext release" publish, and the
// checksum files upstream projects publish beside their downloads
// (FILE.sha256, checksums.txt).
//
// The rules, one set for every caller:
//
//   - Lines end with "\n"; a trailing "\r" is dropped. Blank lines and
//     lines whose first non-blank character is "#" are comments.
//   - An entry is DIGEST, one or more blanks, then NAME: the rest of the
//     line without trailing blanks (a name may hold inner spaces, as
//     sha256sum writes them). A leading "*" (binary mode) and any leading
//     "./" are not part of NAME.
//   - DIGEST is exactly 64 hex digits in either case; it is kept lower-case.
//   - A line of only DIGEST is a bare digest, as upstream FILE.sha256 files
//     hold. It names no file, so Lookup never returns it.
//   - A name holding a control character (tab, carriage return, ...) is
//     an error: no published file is named so, and it would not print.
//   - Anything else (a short or non-hex digest, sha256sum's "\" escaped
//     lines, BSD "SHA256 (NAME) = ..." tags) is an error naming the line:
//     a list that cannot be read completely is not trusted partly.
//   - A name listed twice with different digests is an error: which one
//     was meant cannot be known. Listed twice with the same digest is fine.
package sha256sums

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Size is the length of a SHA-256 digest in hex digits.
const Size = 64

// Sums is a parsed checksum list.
type Sums struct {
	byName map[string]string
	bare   []string
}

// Parse reads a checksum list by the package's rules.
func Parse(data []byte) (*Sums, error) {
	s := &Sums{byName: map[string]string{}}
	for n, line := range bytes.Split(data, []byte("\n")) {
		l := strings.TrimRight(strings.TrimSuffix(string(line), "\r"), " \t")
		trimmed := strings.TrimLeft(l, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		digest, name, err := parseLine(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if name == "" {
			s.bare = append(s.bare, digest)
			continue
		}
		if old, ok := s.byName[name]; ok && old != digest {
			return nil, fmt.Errorf("line %d: %s is listed twice with different digests", n+1, name)
		}
		s.byName[name] = digest
	}
	return s, nil
}

func parseLine(l string) (digest, name string, err error) {
	i := strings.IndexAny(l, " \t")
	if i < 0 {
		i = len(l)
	}
	digest = l[:i]
	if len(digest) != Size {
		return "", "", fmt.Errorf("want \"DIGEST  NAME\" with a %d-digit SHA-256, got %q", Size, clip(l))
	}
	if _, err := hex.DecodeString(digest); err != nil {
		return "", "", fmt.Errorf("digest %q is not hex", clip(digest))
	}
	name = strings.TrimLeft(l[i:], " \t")
	if i < len(l) && name == "" {
		return "", "", fmt.Errorf("no name after the digest in %q", clip(l))
	}
	name = strings.TrimPrefix(name, "*")
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if i < len(l) && name == "" {
		return "", "", fmt.Errorf("no name after the digest in %q", clip(l))
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", "", fmt.Errorf("name %q holds a control character", clip(name))
	}
	return strings.ToLower(digest), name, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// Lookup returns the digest listed for name (compared whole, after
// dropping a leading "./").
func (s *Sums) Lookup(name string) (string, bool) {
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	d, ok := s.byName[name]
	return d, ok
}

// LookupBase finds the digest of a downloaded file by its base name, as
// upstream lists name it ("bin/linux/amd64/kubectl", "./x.tar.gz"): the
// one entry whose last path element is file. Two entries with that base
// name and different digests find nothing. A list holding no names but
// exactly one bare digest gives that digest.
func (s *Sums) LookupBase(file string) (string, bool) {
	found := ""
	for n, d := range s.byName {
		if path.Base(n) != file {
			continue
		}
		if found != "" && found != d {
			return "", false
		}
		found = d
	}
	if found != "" {
		return found, true
	}
	if len(s.byName) == 0 && len(s.bare) == 1 {
		return s.bare[0], true
	}
	return "", false
}

// Map returns the named entries: name -> lower-case hex digest.
func (s *Sums) Map() map[string]string {
	m := make(map[string]string, len(s.byName))
	for n, d := range s.byName {
		m[n] = d
	}
	return m
}

// Format renders sums (name -> hex digest) as sha256sum(1) does in text
// mode ("DIGEST  NAME"), sorted by name, so that "sha256sum -c" and Parse
// both read it back.
func Format(sums map[string]string) string {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if strings.HasPrefix(n, "*") {
			// Binary mode's marker, so that Parse strips it and not the
			// name's own "*".
			fmt.Fprintf(&b, "%s *%s\n", sums[n], n)
			continue
		}
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return b.String()
}
