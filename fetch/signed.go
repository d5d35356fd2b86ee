package fetch

import (
	"context"
	"errors"
	"fmt"
	"github.com/bake-os/bake-os/internal/httpget"
	"github.com/bake-os/bake-os/internal/verify"
	"os"
	"path"
	"time"
)

// fetcher carries the resolved options of one call.
type fetcher struct {
	o    Options
	c    *httpget.Client
	keys *Keyring
}

func newFetcher(o Options) (*fetcher, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &fetcher{o: o, c: newClient(o)}, nil
}

func (f *fetcher) keyring() (*Keyring, error) {
	if f.keys == nil {
		k, err := LoadKeyring(f.o.SigningKeyFile)
		if err != nil {
			return nil, err
		}
		f.keys = k
	}
	return f.keys, nil
}

// signedFile returns the cache path of a verified copy of rawURL, a release
// file with rawURL.sig and maybe rawURL.DIGESTS beside it. A cached copy is
// re-verified and reused (when younger than maxAge, if maxAge > 0); one that
// fails is fetched again, unless offline.
func (f *fetcher) signedFile(ctx context.Context, rawURL string, maxAge time.Duration) (string, error) {
	name := path.Base(rawURL)
	keys, err := f.keyring()
	if err != nil {
		return "", err
	}
	dest, err := cachePath(f.o.CacheDir, rawURL)
	if err != nil {
		return "", err
	}
	unlock, err := lockEntry(dest)
	if err != nil {
		return "", fmt.Errorf("locking cache entry for %s: %w", name, err)
	}
	defer unlock()

	if exists(dest) && (maxAge <= 0 || f.o.Offline || fresh(dest, maxAge)) {
		err := f.verifyCached(keys, dest, name)
		if err == nil {
			return dest, nil
		}
		if f.o.Offline {
			return "", fmt.Errorf("cached %s: %w", dest, err)
		}
		f.o.Logger.Info("cached file failed verification, fetching it again", "file", dest, "err", err)
	}
	if f.o.Offline {
		return "", offlineError(name, rawURL, dest)
	}

	sig, err := f.c.Small(ctx, rawURL+".sig", maxSmallFile)
	if errors.Is(err, ErrNotFound) {
		if f.c.Missing(ctx, rawURL) {
			return "", fmt.Errorf("%s is not on the server (%s): %w", name, rawURL, ErrNotFound)
		}
		return "", fmt.Errorf("verifying %s: %w: no signature %s.sig on the server", name, verify.ErrFailed, rawURL)
	}
	if err != nil {
		return "", err
	}
	digests, err := f.c.Small(ctx, rawURL+".DIGESTS", maxSmallFile)
	if errors.Is(err, ErrNotFound) {
		digests = nil
	} else if err != nil {
		return "", err
	}
	partial := dest + ".partial"
	limit := maxReleaseFile
	if name == VersionFile {
		limit = maxSmallFile
	}
	err = f.downloadChecked(ctx, rawURL, partial, name, limit, func() error {
		st, err := os.Stat(partial)
		if err != nil {
			return err
		}
		counter := f.o.Reporter.Counter("verifying "+name, st.Size())
		defer counter.Done()
		return verifyReleaseFile(keys, partial, name, sig, digests, counter.Add)
	})
	if err != nil {
		return "", err
	}
	// Companions first, final name last; drop an old final name before
	// its companions change, so a crash leaves no mismatched set.
	if err := removeIfExists(dest); err != nil {
		return "", fmt.Errorf("caching %s: %w", name, err)
	}
	if err := writeFileAtomic(dest+".sig", sig); err != nil {
		return "", fmt.Errorf("caching %s.sig: %w", name, err)
	}
	if digests != nil {
		err = writeFileAtomic(dest+".DIGESTS", digests)
	} else {
		err = removeIfExists(dest + ".DIGESTS")
	}
	if err != nil {
		return "", fmt.Errorf("caching %s.DIGESTS: %w", name, err)
	}
	if err := commitFile(partial, dest); err != nil {
		return "", fmt.Errorf("caching %s: %w", name, err)
	}
	return dest, nil
}

// verifyCached re-verifies a cached release file with its cached signature
// and, when cached, .DIGESTS.
func (f *fetcher) verifyCached(keys *Keyring, dest, name string) error {
	sig, err := os.ReadFile(dest + ".sig")
	if err != nil {
		return fmt.Errorf("verifying %s: %w: reading cached signature: %w", name, verify.ErrFailed, err)
	}
	digests, err := readOptional(dest + ".DIGESTS")
	if err != nil {
		return fmt.Errorf("verifying %s: %w", name, err)
	}
	st, err := os.Stat(dest)
	if err != nil {
		return err
	}
	counter := f.o.Reporter.Counter("verifying cached "+name, st.Size())
	defer counter.Done()
	return verifyReleaseFile(keys, dest, name, sig, digests, counter.Add)
}

// cachedComplete reports whether a release file and its signature are in
// the cache (not whether they verify).
func (f *fetcher) cachedComplete(rawURL string) (string, bool) {
	dest, err := cachePath(f.o.CacheDir, rawURL)
	if err != nil {
		return "", false
	}
	return dest, exists(dest) && exists(dest+".sig")
}

// downloadChecked downloads rawURL into partial and runs check on it. A
// partial that fails the check is deleted; if the download had resumed a
// partial left by an earlier run (which may hold bytes of an older upload),
// it is downloaded once more from scratch before giving up.
func (f *fetcher) downloadChecked(ctx context.Context, rawURL, partial, name string, limit int64, check func() error) error {
	for try := 0; ; try++ {
		st, err := os.Stat(partial)
		resumed := err == nil && st.Size() > 0
		if err := f.c.Download(ctx, rawURL, partial, name, limit); err != nil {
			return err
		}
		err = check()
		if err == nil {
			return nil
		}
		_ = os.Remove(partial) // never resume onto bytes that failed
		if !resumed || try > 0 || !errors.Is(err, verify.ErrFailed) {
			return err
		}
		f.o.Logger.Info("resumed download failed verification, downloading it again", "file", name, "err", err)
	}
}
