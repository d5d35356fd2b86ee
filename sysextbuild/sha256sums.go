package sysextbuild

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
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
func FormatSHA256Sums(sums map[string]string) string {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return b.String()
}

// ParseSHA256Sums reads sha256sum(1) output ("DIGEST  NAME" or
// "DIGEST *NAME") into a map from file name to lower-case hex digest.
// Blank lines and lines starting with "#" are skipped.
func ParseSHA256Sums(r io.Reader) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		digest, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimLeft(name, " "), "*")
		if !ok || len(digest) != 64 || name == "" {
			return nil, fmt.Errorf("parsing SHA256SUMS line %d: want \"DIGEST  NAME\", got %q", n, line)
		}
		if _, err := hex.DecodeString(digest); err != nil {
			return nil, fmt.Errorf("parsing SHA256SUMS line %d: %w", n, err)
		}
		sums[name] = strings.ToLower(digest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading SHA256SUMS: %w", err)
	}
	return sums, nil
}
