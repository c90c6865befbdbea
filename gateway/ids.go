package gateway

import (
	"encoding/base32"
	"strings"

	"github.com/google/uuid"
)

// idEncoding is lower-case Crockford-style base32 without padding: IDs are short,
// case-insensitive to read aloud, and sort by creation time (UUIDv7 underneath).
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new prefixed, time-ordered identifier such as "inv_01jd8x...".
func NewID(prefix string) string {
	u := uuid.Must(uuid.NewV7())
	return prefix + "_" + idEncoding.EncodeToString(u[:])
}

// ValidID reports whether s looks like an ID with the given prefix, so that garbage
// in a URL is answered without a database round trip.
func ValidID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != 26 {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}
