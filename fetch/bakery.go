package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bake-os/bake-os/internal/sha256sums"
	"github.com/bake-os/bake-os/internal/verify"
)

// Sysext is a verified bakery sysext in the cache.
type Sysext struct {
	Name     string
	RawPath  string // FILE
	ConfPath string // NAME.conf, "" when the bakery has none
}

// FetchSysext returns the bakery sysext NAME:FILE from the cache,
// downloading BakeryURL/FILE (and BakeryURL/NAME.conf when it exists) when
// missing. FILE must be listed with the same SHA256 in
// BakeryURL/SHA256SUMS; so must NAME.conf when the server has one (a conf
// that SHA256SUMS does not list is refused like a wrong one). A cached
// FILE and conf are re-checked against the SHA256SUMS they were fetched
// with.
func FetchSysext(ctx context.Context, o Options, name, file string) (*Sysext, error) {
	for _, s := range []string{name, file} {
		if s == "" || strings.ContainsAny(s, `/\`) || s == "." || s == ".." {
			return nil, fmt.Errorf("sysext %s:%s: %q is not a plain file name", name, file, s)
		}
	}
	f, err := newFetcher(o)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(f.o.BakeryURL, "/")
	rawURL, confURL, sumsURL := base+"/"+file, base+"/"+name+".conf", base+"/SHA256SUMS"
	dest, err := cachePath(f.o.CacheDir, rawURL)
	if err != nil {
		return nil, err
	}
	confDest, err := cachePath(f.o.CacheDir, confURL)
	if err != nil {
		return nil, err
	}
	unlock, err := lockEntry(dest)
	if err != nil {
		return nil, fmt.Errorf("locking cache entry for %s: %w", file, err)
	}
	defer unlock()

	out := &Sysext{Name: name, RawPath: dest}
	if exists(dest) {
		err := verifyCachedSysext(dest, confDest, file, name)
		if err == nil {
			if exists(confDest) {
				out.ConfPath = confDest
			}
			return out, nil
		}
		if f.o.Offline {
			return nil, fmt.Errorf("cached %s: %w", dest, err)
		}
	}
	if f.o.Offline {
		return nil, offlineError("sysext "+file, rawURL, dest)
	}

	sums, err := f.c.Small(ctx, sumsURL, maxSmallFile)
	if err != nil {
		return nil, fmt.Errorf("sysext %s: fetching checksums: %w", file, err)
	}
	want, ok, err := sumFor(sums, file)
	if err != nil {
		return nil, fmt.Errorf("sysext %s: %w (%s)", file, err, sumsURL)
	}
	if !ok {
		return nil, fmt.Errorf("sysext %s: %w: not listed in %s; refusing it", file, verify.ErrFailed, sumsURL)
	}
	conf, err := f.c.Small(ctx, confURL, maxSmallFile)
	switch {
	case errors.Is(err, ErrNotFound):
		conf = nil
	case err != nil:
		return nil, fmt.Errorf("sysext %s: %w", name, err)
	}
	if conf != nil {
		if err := checkConf(sums, name, conf, sumsURL); err != nil {
			return nil, err
		}
	}
	partial := dest + ".partial"
	err = f.downloadChecked(ctx, rawURL, partial, file, maxSysextFile, func() error {
		return checkSHA256(partial, file, want, sumsURL)
	})
	if err != nil {
		return nil, err // names the file already
	}
	if err := removeIfExists(dest); err != nil {
		return nil, fmt.Errorf("caching %s: %w", file, err)
	}
	if conf != nil {
		err = writeFileAtomic(confDest, conf)
		out.ConfPath = confDest
	} else {
		err = removeIfExists(confDest)
	}
	if err != nil {
		return nil, fmt.Errorf("caching %s.conf: %w", name, err)
	}
	if err := writeFileAtomic(dest+".SHA256SUMS", sums); err != nil {
		return nil, fmt.Errorf("caching SHA256SUMS for %s: %w", file, err)
	}
	if err := commitFile(partial, dest); err != nil {
		return nil, fmt.Errorf("caching %s: %w", file, err)
	}
	return out, nil
}

// verifyCachedSysext re-checks a cached sysext (and its conf, when the
// sums list it) against the SHA256SUMS cached with it.
func verifyCachedSysext(dest, confDest, file, name string) error {
	sums, err := os.ReadFile(dest + ".SHA256SUMS")
	if err != nil {
		return fmt.Errorf("sysext %s: %w: reading cached SHA256SUMS: %w", file, verify.ErrFailed, err)
	}
	want, ok, err := sumFor(sums, file)
	if err != nil {
		return fmt.Errorf("sysext %s: cached %w", file, err)
	}
	if !ok {
		return fmt.Errorf("sysext %s: %w: not listed in cached SHA256SUMS", file, verify.ErrFailed)
	}
	if err := checkSHA256(dest, file, want, "cached SHA256SUMS"); err != nil {
		return err
	}
	if conf, err := readOptional(confDest); err != nil {
		return err
	} else if conf != nil {
		if err := checkConf(sums, name, conf, "cached SHA256SUMS"); err != nil {
			return err
		}
	}
	return nil
}

// checkConf refuses a NAME.conf that sums does not list with its SHA256:
// a sysupdate conf decides what the host downloads later, so an
// unverified one must never reach an image.
func checkConf(sums []byte, name string, conf []byte, sumsName string) error {
	want, ok, err := sumFor(sums, name+".conf")
	if err != nil {
		return fmt.Errorf("sysext %s: %w (%s)", name, err, sumsName)
	}
	if !ok {
		return fmt.Errorf("sysext %s: %w: %s.conf is not listed in %s; refusing it", name, verify.ErrFailed, name, sumsName)
	}
	if got := sha256Hex(conf); got != want {
		return fmt.Errorf("sysext %s: %w: %s.conf has SHA256 %s, %s lists %s; refusing it", name, verify.ErrFailed, name, got, sumsName, want)
	}
	return nil
}

func checkSHA256(path, file, want, sumsName string) error {
	got, err := sha256sums.File(path)
	if err != nil {
		return fmt.Errorf("checking sysext %s: %w", file, err)
	}
	if got != want {
		return fmt.Errorf("sysext %s: %w: SHA256 %s, %s lists %s; refusing it", file, verify.ErrFailed, got, sumsName, want)
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sumFor finds the digest SHA256SUMS lists for name, by the rules of
// package sha256sums; a list that does not parse gives an error.
func sumFor(sums []byte, name string) (string, bool, error) {
	s, err := sha256sums.Parse(sums)
	if err != nil {
		return "", false, fmt.Errorf("%w: SHA256SUMS: %w", verify.ErrFailed, err)
	}
	d, ok := s.Lookup(name)
	return d, ok, nil
}
