package sysextbuild

import (
	"fmt"
	"io"

	"github.com/bake-os/bake-os/internal/sha256sums"
)

// SHA256SumsName is the per-extension checksum file name: SHA256SUMS.NAME.
func SHA256SumsName(name string) string { return "SHA256SUMS." + name }

// FormatSHA256Sums renders sums (file name -> hex digest) in sha256sum(1)
// format ("DIGEST  NAME"), sorted by name.
func FormatSHA256Sums(sums map[string]string) string { return sha256sums.Format(sums) }

// ParseSHA256Sums reads a SHA256SUMS list by the rules of package
// sha256sums into a map from file name to lower-case hex digest.
func ParseSHA256Sums(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading SHA256SUMS: %w", err)
	}
	s, err := sha256sums.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parsing SHA256SUMS: %w", err)
	}
	return s.Map(), nil
}
