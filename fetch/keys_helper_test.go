package fetch_test

import (
	"bytes"
	"crypto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// testKey is a throw-away signing key: an ed25519 primary (created at
// created) with one signing subkey that lives subLifetime (0: forever).
type testKey struct {
	e   *openpgp.Entity
	sub *openpgp.Subkey
}

func newTestKey(t testing.TB, created time.Time, subLifetime time.Duration) *testKey {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return created }}
	e, err := openpgp.NewEntity("bake-os test", "throw-away", "test@bake-os.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KeyLifetimeSecs = uint32(subLifetime / time.Second)
	if err := e.AddSigningSubkey(cfg); err != nil {
		t.Fatal(err)
	}
	return &testKey{e: e, sub: &e.Subkeys[len(e.Subkeys)-1]}
}

// publicKey serializes the public part (binary).
func (k *testKey) publicKey(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := k.e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// keyFile writes the public key to a file and returns its path.
func (k *testKey) keyFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.gpg")
	if err := os.WriteFile(p, k.publicKey(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sign makes a detached binary signature with the signing subkey, now.
func (k *testKey) sign(t testing.TB, msg []byte) []byte {
	return k.signAt(t, msg, time.Now())
}

// signAt signs with the subkey and the given creation time, whether or not
// the subkey is valid then (so tests can forge "too late" signatures).
func (k *testKey) signAt(t testing.TB, msg []byte, when time.Time) []byte {
	t.Helper()
	priv := k.sub.PrivateKey
	sig := &packet.Signature{
		Version:      priv.PublicKey.Version,
		SigType:      packet.SigTypeBinary,
		PubKeyAlgo:   priv.PublicKey.PubKeyAlgo,
		Hash:         crypto.SHA256,
		CreationTime: when,
		IssuerKeyId:  &priv.PublicKey.KeyId,
	}
	cfg := &packet.Config{Time: func() time.Time { return when }}
	h, err := sig.PrepareSign(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(msg)
	if err := sig.Sign(h, priv, cfg); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := sig.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
