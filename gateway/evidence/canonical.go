package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"
)

// Canonical returns the RFC 8785 (JCS) form of v's JSON: sorted keys, no
// whitespace, ES6 numbers. Hashes and signatures are taken over this form, so that
// the same facts hash the same whichever program (or database) serialised them.
func Canonical(v any) ([]byte, error) {
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("encode for canonical form: %w", err)
		}
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalise json: %w", err)
	}
	return out, nil
}

// SHA256Hex is the lower-case hex SHA-256 of b, the form every hash in a bundle takes.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
