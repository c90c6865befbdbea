package tracking

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

const (
	// tokenBytes is the token's entropy: 256 bits, far beyond guessing range even for
	// an attacker who can try millions of URLs.
	tokenBytes = 32
	// tokenLen is the length of tokenBytes in unpadded base64url: ceil(256/6).
	tokenLen = (tokenBytes*8 + 5) / 6
)

// ErrMalformedToken reports a token that cannot have come from NewToken. Callers treat
// it like an unknown token (not found), without a lookup.
var ErrMalformedToken = errors.New("malformed tracking token")

// NewToken returns a new opaque token for a URL (43 characters of unpadded base64url
// over 32 random bytes) and the SHA-256 of those bytes, under which it is stored. Only
// the hash is kept, so a copy of the database does not yield working links.
func NewToken() (token string, hash []byte, err error) {
	var raw [tokenBytes]byte
	// crypto/rand.Read does not fail on supported platforms since Go 1.24; the check
	// keeps this correct should that ever change.
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("read random token: %w", err)
	}
	sum := sha256.Sum256(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:]), sum[:], nil
}

// HashToken checks that token is exactly what NewToken produces (43 characters of the
// base64url alphabet, no padding, canonical final character) and returns the hash it
// is stored under. Anything else returns ErrMalformedToken before any hashing, so junk
// from scanners and guessers costs next to nothing and never reaches the database.
func HashToken(token string) ([]byte, error) {
	if len(token) != tokenLen {
		return nil, ErrMalformedToken
	}
	// Checked by hand because the decoder silently skips CR and LF.
	for i := 0; i < len(token); i++ {
		if !isBase64URL(token[i]) {
			return nil, ErrMalformedToken
		}
	}
	var raw [tokenBytes]byte
	// Strict rejects a last character with non-zero spare bits, so exactly one
	// spelling of each token is accepted.
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(token))
	if err != nil || n != tokenBytes {
		return nil, ErrMalformedToken
	}
	sum := sha256.Sum256(raw[:])
	return sum[:], nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
