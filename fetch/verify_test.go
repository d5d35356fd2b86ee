package fetch_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/bake-os/bake-os/fetch"
	"github.com/bake-os/bake-os/internal/verify"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestEmbeddedKey(t *testing.T) {
	k, err := fetch.FlatcarKeyring()
	if err != nil {
		t.Fatal(err)
	}
	if fps := k.PrimaryFingerprints(); len(fps) != 1 || fps[0] != "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A" {
		t.Fatalf("primary fingerprints %v", fps)
	}
	// The embedded file is the published key, byte for byte.
	ref, err := os.ReadFile("keys/flatcar-image-signing-key.asc")
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 23569 {
		t.Errorf("key file is %d bytes, the published key is 23569", len(ref))
	}

	subs := k.Subkeys()
	want := []struct {
		fp               string
		created, expires string
		compromised      bool
	}{
		{"1E100DD7A677A6F9A532C9F9B51DE377064D542D", "2018-02-26", "2019-02-26", true},
		{"A621F1DA96C93C639506832D603443A1D0FC498C", "2018-03-14", "2019-03-14", true},
		{"628CC212938065DAB4E3B949A8ABF005896E394F", "2018-09-26", "2019-09-26", false},
		{"C8FE85310122E626753DB0CF3BC20FF8AF9CF1AF", "2019-09-30", "2020-09-29", false},
		{"782B3BC9F10CF638A5DCF5105B2910CBFCBEAB91", "2020-08-28", "2021-08-28", false},
		{"858A560F97C9AEB22EC1C732961DDDD5250D4A42", "2021-08-10", "2022-08-10", false},
		{"8D6DA7853CFE1B1ED346ED0DEDBDF411267EC954", "2022-08-11", "2023-08-11", false},
		{"E9426D8B67E35DF476BD048185F7C8868837E271", "2023-03-07", "2025-03-06", false},
		{"52F145DFD00BBDCD928CBB5A32DA80F91EF52974", "2025-03-07", "2027-03-08", false},
	}
	if len(subs) != len(want) {
		t.Fatalf("%d subkeys, want %d", len(subs), len(want))
	}
	for i, w := range want {
		s := subs[i]
		if s.Fingerprint != w.fp || s.Created.Format("2006-01-02") != w.created ||
			s.Expires.Format("2006-01-02") != w.expires || s.Compromised != w.compromised || !s.CanSign {
			t.Errorf("subkey %d = %+v, want %+v", i, s, w)
		}
	}
	cur := subs[8]
	for _, c := range []struct {
		at    string
		valid bool
	}{{"2025-03-06", false}, {"2025-03-08", true}, {"2026-11-25", true}, {"2027-03-07", true}, {"2027-03-10", false}} {
		if got := cur.ValidAt(day(c.at)); got != c.valid {
			t.Errorf("current subkey valid at %s = %v, want %v", c.at, got, c.valid)
		}
	}
	if subs[0].ValidAt(day("2018-03-01")) {
		t.Error("a subkey revoked as compromised must never be valid")
	}
	if !subs[7].ValidAt(day("2024-06-01")) || subs[7].ValidAt(day("2025-06-01")) {
		t.Error("E9426D8B... must be valid in 2024 and expired in mid 2025")
	}

	// A signature from another key fails against the embedded key.
	other := newTestKey(t, time.Now().Add(-time.Hour), 0)
	msg := []byte("flatcar_production_image.bin.bz2 contents")
	_, err = k.Verify(bytes.NewReader(msg), other.sign(t, msg))
	if !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("other key's signature: err = %v, want verify.ErrFailed", err)
	}
}

// Signatures are judged at their creation time: a subkey that has expired
// since still vouches for what it signed while valid, not after.
func TestSignatureTimeValidity(t *testing.T) {
	t0 := time.Now().Add(-3 * 365 * 24 * time.Hour).Truncate(time.Second)
	k := newTestKey(t, t0, 365*24*time.Hour)
	kr, err := fetch.ParseKeyring(k.publicKey(t), "test key")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("release")
	if s, err := kr.Verify(bytes.NewReader(msg), k.signAt(t, msg, t0.Add(30*24*time.Hour))); err != nil {
		t.Fatalf("signature made while the subkey was valid: %v", err)
	} else if s.PrimaryFingerprint != kr.PrimaryFingerprints()[0] {
		t.Errorf("signer %+v", s)
	}
	if _, err := kr.Verify(bytes.NewReader(msg), k.signAt(t, msg, t0.Add(400*24*time.Hour))); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("signature made after the subkey expired: err = %v, want verify.ErrFailed", err)
	}
	if _, err := kr.Verify(bytes.NewReader(msg), k.signAt(t, msg, t0.Add(-time.Hour))); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("signature dated before the subkey existed: err = %v, want verify.ErrFailed", err)
	}
	if _, err := kr.Verify(bytes.NewReader([]byte("other")), k.signAt(t, msg, t0.Add(time.Hour))); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("tampered message: err = %v, want verify.ErrFailed", err)
	}
	if _, err := kr.Verify(bytes.NewReader(msg), k.signAt(t, msg, time.Now().Add(72*time.Hour))); !errors.Is(err, verify.ErrFailed) {
		t.Fatalf("signature from the future: err = %v, want verify.ErrFailed", err)
	}
}

func TestRevokedSubkey(t *testing.T) {
	t0 := time.Now().Add(-100 * 24 * time.Hour).Truncate(time.Second)
	msg := []byte("release")
	for _, c := range []struct {
		reason       packet.ReasonForRevocation
		before, afer bool
	}{
		{packet.KeySuperseded, true, false},
		{packet.KeyCompromised, false, false},
	} {
		k := newTestKey(t, t0, 0)
		revAt := t0.Add(50 * 24 * time.Hour)
		if err := k.e.RevokeSubkey(k.sub, c.reason, "test", &packet.Config{Time: func() time.Time { return revAt }}); err != nil {
			t.Fatal(err)
		}
		kr, err := fetch.ParseKeyring(k.publicKey(t), "test key")
		if err != nil {
			t.Fatal(err)
		}
		_, err = kr.Verify(bytes.NewReader(msg), k.signAt(t, msg, revAt.Add(-24*time.Hour)))
		if (err == nil) != c.before {
			t.Errorf("reason %d, signed before revocation: err = %v", c.reason, err)
		}
		_, err = kr.Verify(bytes.NewReader(msg), k.signAt(t, msg, revAt.Add(24*time.Hour)))
		if (err == nil) != c.afer {
			t.Errorf("reason %d, signed after revocation: err = %v", c.reason, err)
		}
	}
}

func TestSigningKeyFileArmoredAndBinary(t *testing.T) {
	k := newTestKey(t, time.Now().Add(-time.Hour), 0)
	kr, err := fetch.LoadKeyring(k.keyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("x")
	if _, err := kr.Verify(bytes.NewReader(msg), k.sign(t, msg)); err != nil {
		t.Fatal(err)
	}
	// The embedded Flatcar key is armored; LoadKeyring("") returns it.
	emb, err := fetch.LoadKeyring("")
	if err != nil || !strings.Contains(emb.Source(), "embedded") {
		t.Fatalf("LoadKeyring(\"\") = %v, %v", emb, err)
	}
	if _, err := fetch.LoadKeyring("/nonexistent/key"); err == nil {
		t.Fatal("missing key file accepted")
	}
}
