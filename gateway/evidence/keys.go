package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Keys are written as a prefix followed by standard base64: "ed25519:" and the
// 32-byte public key, or "ed25519-private:" and the private key's 32-byte seed. Both
// are 32 bytes, so only the prefix keeps one from being pasted where the other
// belongs unnoticed; it also leaves room for other algorithms.
const (
	keyPrefix     = "ed25519:"
	privatePrefix = "ed25519-private:"
)

// GenerateKey returns a new private key (for INVOICEGW_SIGNING_KEY) and its public key.
func GenerateKey() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	return privatePrefix + base64.StdEncoding.EncodeToString(priv.Seed()), FormatPublicKey(pub), nil
}

// ParsePrivateKey reads a key printed by GenerateKey.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := decodeKey(s, privatePrefix)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("want a %d-byte ed25519 seed, got %d bytes", ed25519.SeedSize, len(b))
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// ParsePublicKey reads a public key as FormatPublicKey writes it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeKey(s, keyPrefix)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want a %d-byte ed25519 public key, got %d bytes", ed25519.PublicKeySize, len(b))
	}
	return ed25519.PublicKey(b), nil
}

func decodeKey(s, prefix string) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), prefix)
	if !ok {
		return nil, fmt.Errorf("want a key of the form %q", prefix+"<base64>")
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("key is not valid base64: %w", err)
	}
	return b, nil
}

// FormatPublicKey writes a public key as "ed25519:<base64>".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// KeyID is a short name for a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string { return SHA256Hex(pub)[:16] }

// Signer signs manifests and checkpoints. It holds only an immutable key.
type Signer struct {
	key ed25519.PrivateKey
}

// NewSigner wraps a private key.
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key} }

// Public returns the public key that verifies this signer's signatures.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns the signature of msg.
func (s *Signer) Sign(msg []byte) Signature {
	pub := s.Public()
	return Signature{Algorithm: "ed25519", KeyID: KeyID(pub), PublicKey: FormatPublicKey(pub),
		Value: base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, msg))}
}

// Signature is an Ed25519 signature with the key that made it. The public key is
// carried for convenience only: a verifier must compare it with a key it trusts.
type Signature struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	Value     string `json:"value"` // base64
}

// Verify checks sig over msg with pub.
func (sig Signature) Verify(pub ed25519.PublicKey, msg []byte) error {
	if sig.Algorithm != "ed25519" {
		return fmt.Errorf("unsupported signature algorithm %q", sig.Algorithm)
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Value)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return errors.New("signature is not a base64 ed25519 signature")
	}
	if !ed25519.Verify(pub, msg, raw) {
		return errors.New("signature does not match")
	}
	return nil
}
