package sysextbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/bake-os/bake-os/internal/sha256sums"
)

// SHA256SumsName is the per-extension checksum file name: SHA256SUMS.NAME.
func SHA256SumsName(name string) string { return "SHA256SUMS." + name }

// fileSHA256 hashes a file by streaming it.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

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
