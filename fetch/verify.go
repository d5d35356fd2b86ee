package fetch

import (
	"bufio"
	"bytes"
	"crypto/sha512"
	_ "embed" // the Flatcar signing key
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/bake-os/bake-os/internal/verify"
)

// FlatcarKeyFingerprint pins the primary key of the embedded Flatcar image
// signing key ("Flatcar Buildbot (Official Builds)
// <buildbot@flatcar-linux.org>", rsa4096, created 2018-02-26).
const FlatcarKeyFingerprint = "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A"

// flatcarKey is Flatcar's published image signing key, as copied from the
// project's reference (armored, 23569 bytes). The primary key only
// certifies in practice; images are signed by yearly-rotated rsa4096
// signing subkeys (subkey fingerprint, created, end):
//
//	1E100DD7A677A6F9A532C9F9B51DE377064D542D 2018-02-26 revoked 2018-03-14 (reason: compromised)
//	A621F1DA96C93C639506832D603443A1D0FC498C 2018-03-14 revoked 2018-09-26 (reason: compromised)
//	628CC212938065DAB4E3B949A8ABF005896E394F 2018-09-26 expired 2019-09-26
//	C8FE85310122E626753DB0CF3BC20FF8AF9CF1AF 2019-09-30 expired 2020-09-29
//	782B3BC9F10CF638A5DCF5105B2910CBFCBEAB91 2020-08-28 expired 2021-08-28
//	858A560F97C9AEB22EC1C732961DDDD5250D4A42 2021-08-10 expired 2022-08-10
//	8D6DA7853CFE1B1ED346ED0DEDBDF411267EC954 2022-08-11 expired 2023-08-11
//	E9426D8B67E35DF476BD048185F7C8868837E271 2023-03-07 expired 2025-03-06
//	52F145DFD00BBDCD928CBB5A32DA80F91EF52974 2025-03-07 expires 2027-03-08
//
// When Flatcar extends or rotates the subkey, replace this file with the
// newly published key (same primary fingerprint) and update the table;
// TestEmbeddedKey asserts both. Users can do the same without a rebuild
// with Options.SigningKeyFile.
//
//go:embed keys/flatcar-image-signing-key.asc
var flatcarKey []byte

// maxClockSkew is how far in the future a signature's creation time may be.
const maxClockSkew = 24 * time.Hour

// Keyring is a set of OpenPGP public keys trusted to sign release files.
type Keyring struct {
	entities openpgp.EntityList
	source   string
}

// FlatcarKeyring returns the embedded Flatcar key, checked against the
// pinned primary fingerprint.
func FlatcarKeyring() (*Keyring, error) {
	k, err := ParseKeyring(flatcarKey, "embedded Flatcar key")
	if err != nil {
		return nil, err
	}
	fps := k.PrimaryFingerprints()
	if len(fps) != 1 || fps[0] != FlatcarKeyFingerprint {
		return nil, fmt.Errorf("embedded Flatcar key has primary fingerprint %v, want %s", fps, FlatcarKeyFingerprint)
	}
	return k, nil
}

// LoadKeyring reads an armored or binary public key file; an empty path
// means the embedded Flatcar key.
func LoadKeyring(path string) (*Keyring, error) {
	if path == "" {
		return FlatcarKeyring()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	return ParseKeyring(data, path)
}

// ParseKeyring parses armored or binary OpenPGP public keys; source names
// them in errors.
func ParseKeyring(data []byte, source string) (*Keyring, error) {
	var el openpgp.EntityList
	var err error
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("parsing signing key %s: %w", source, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("parsing signing key %s: no keys found", source)
	}
	return &Keyring{entities: el, source: source}, nil
}

// Source names where the keys came from.
func (k *Keyring) Source() string { return k.source }

// PrimaryFingerprints are the upper-case hex fingerprints of the primary keys.
func (k *Keyring) PrimaryFingerprints() []string {
	var out []string
	for _, e := range k.entities {
		out = append(out, fingerprint(e.PrimaryKey))
	}
	return out
}

func fingerprint(pk *packet.PublicKey) string {
	return strings.ToUpper(hex.EncodeToString(pk.Fingerprint))
}

// Subkey describes one subkey as the verifier sees it.
type Subkey struct {
	Fingerprint string
	Created     time.Time
	Expires     time.Time // zero: never
	CanSign     bool
	Revoked     time.Time // zero: not revoked
	Compromised bool      // revoked as compromised: never valid
}

// ValidAt reports whether the subkey could make a valid signature at t.
func (s Subkey) ValidAt(t time.Time) bool {
	if !s.CanSign || s.Compromised || t.Before(s.Created) {
		return false
	}
	if !s.Expires.IsZero() && t.After(s.Expires) {
		return false
	}
	return s.Revoked.IsZero() || t.Before(s.Revoked)
}

// Subkeys lists the subkeys of every key, in key order.
func (k *Keyring) Subkeys() []Subkey {
	var out []Subkey
	for _, e := range k.entities {
		for _, sk := range e.Subkeys {
			s := Subkey{Fingerprint: fingerprint(sk.PublicKey), Created: sk.PublicKey.CreationTime}
			if sk.Sig != nil {
				s.CanSign = sk.Sig.FlagsValid && sk.Sig.FlagSign
				if sk.Sig.KeyLifetimeSecs != nil && *sk.Sig.KeyLifetimeSecs != 0 {
					s.Expires = s.Created.Add(time.Duration(*sk.Sig.KeyLifetimeSecs) * time.Second)
				}
			}
			for _, r := range sk.Revocations {
				if r.RevocationReason != nil && *r.RevocationReason == packet.KeyCompromised {
					s.Compromised = true
				}
				if s.Revoked.IsZero() || r.CreationTime.Before(s.Revoked) {
					s.Revoked = r.CreationTime
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// Signer describes who made a verified signature.
type Signer struct {
	KeyFingerprint     string // the (sub)key that signed
	PrimaryFingerprint string
	Time               time.Time
}

// Verify checks a detached binary OpenPGP signature over signed. A
// signature is accepted when it was made by a signing key (primary or
// subkey) of the keyring that was valid when the signature was made: not
// yet expired, not revoked before then, and never revoked as compromised.
// Failures wrap verify.ErrFailed; errors reading signed do not.
func (k *Keyring) Verify(signed io.Reader, sig []byte) (*Signer, error) {
	p, err := packet.NewReader(bytes.NewReader(sig)).Next()
	if err != nil {
		return nil, fmt.Errorf("%w: reading signature packet: %w", verify.ErrFailed, err)
	}
	sp, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("%w: signature file holds a %T, not a signature", verify.ErrFailed, p)
	}
	created := sp.CreationTime
	if created.After(time.Now().Add(maxClockSkew)) {
		return nil, fmt.Errorf("%w: signature is dated in the future (%s)", verify.ErrFailed, created.UTC().Format(time.RFC3339))
	}
	cfg := &packet.Config{Time: func() time.Time { return created }}
	er := &errReader{r: signed}
	vs, signer, err := openpgp.VerifyDetachedSignature(k.entities, er, bytes.NewReader(sig), cfg)
	if er.err != nil {
		return nil, er.err
	}
	if err != nil {
		var who string
		if sp.IssuerKeyId != nil {
			who = fmt.Sprintf(" (issuer key ID %016X)", *sp.IssuerKeyId)
		}
		return nil, fmt.Errorf("%w: bad signature%s against %s: %w", verify.ErrFailed, who, k.source, err)
	}
	s := &Signer{PrimaryFingerprint: fingerprint(signer.PrimaryKey), Time: vs.CreationTime}
	if vs.IssuerFingerprint != nil {
		s.KeyFingerprint = strings.ToUpper(hex.EncodeToString(vs.IssuerFingerprint))
	} else if vs.IssuerKeyId != nil {
		s.KeyFingerprint = fmt.Sprintf("%016X", *vs.IssuerKeyId)
	}
	return s, nil
}

// errReader remembers the first non-EOF error of r, so that I/O errors are
// not reported as bad signatures.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// WriteTo passes whole chunks through when r can (see asyncHash).
func (e *errReader) WriteTo(w io.Writer) (int64, error) {
	wt, ok := e.r.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{e})
	}
	n, err := wt.WriteTo(w)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// digestsSHA512 finds the SHA512 of name in a Flatcar .DIGESTS file (lines
// "# SHA512 HASH" followed by "<hex>  <name>").
func digestsSHA512(digests []byte, name string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(digests))
	inSHA512 := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			inSHA512 = strings.EqualFold(strings.Join(strings.Fields(line), " "), "# SHA512 HASH")
			continue
		}
		if !inSHA512 {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == name && len(f[0]) == 2*sha512.Size {
			if _, err := hex.DecodeString(f[0]); err != nil {
				return "", fmt.Errorf("%w: SHA512 of %s in its .DIGESTS is not hex", verify.ErrFailed, name)
			}
			return strings.ToLower(f[0]), nil
		}
	}
	return "", fmt.Errorf("%w: no SHA512 for %s in its .DIGESTS", verify.ErrFailed, name)
}

// verifyReleaseFile checks path (published as name) against its detached
// signature and, when digests is not nil, its .DIGESTS SHA512, in one pass.
func verifyReleaseFile(k *Keyring, path, name string, sig, digests []byte, c countFunc) error {
	var want string
	if digests != nil {
		w, err := digestsSHA512(digests, name)
		if err != nil {
			return fmt.Errorf("verifying %s: %w", name, err)
		}
		want = w
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", name, err)
	}
	defer f.Close()
	ah := newAsyncHash(&countingReader{r: f, add: c}, sha512.New())
	_, err = k.Verify(ah, sig)
	sum := ah.Sum()
	if err != nil {
		return fmt.Errorf("verifying %s with %s.sig: %w", name, name, err)
	}
	if want != "" {
		if got := hex.EncodeToString(sum); got != want {
			return fmt.Errorf("verifying %s: %w: SHA512 %s does not match %s.DIGESTS (%s)", name, verify.ErrFailed, got, name, want)
		}
	}
	return nil
}

type countFunc func(int64)

type countingReader struct {
	r   io.Reader
	add countFunc
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.add != nil {
		c.add(int64(n))
	}
	return n, err
}
