package tracking

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
)

// Bounce tokens put one delivery into its envelope sender (VERP,
// bounce+<token>@<bounce domain>), so that every delivery status notification and
// read receipt, which mail servers send to the envelope sender, names the delivery it
// is about. They are lower-case base32 because mail servers are free to change the
// case of a local part and some do.
const (
	bounceTokenBytes = 20
	bounceTokenLen   = bounceTokenBytes * 8 / 5 // 32 characters, no padding needed
	bouncePrefix     = "bounce+"
)

var bounceEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewBounceToken returns a fresh 160-bit bounce token.
func NewBounceToken() (string, error) {
	var raw [bounceTokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("read random bounce token: %w", err)
	}
	return bounceEncoding.EncodeToString(raw[:]), nil
}

// BounceAddress is the envelope sender that carries token, e.g.
// bounce+k3j...@bounces.example.com.
func BounceAddress(token, domain string) string {
	return bouncePrefix + token + "@" + domain
}

// ParseBounceAddress returns the token of a bounce address in domain. ok is false for
// any other address, including one with a malformed token, so junk never reaches a
// lookup. Domain and local part are compared without regard to case.
func ParseBounceAddress(addr, domain string) (token string, ok bool) {
	addr = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(addr), "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], domain) {
		return "", false
	}
	local := strings.ToLower(addr[:at])
	if !strings.HasPrefix(local, bouncePrefix) {
		return "", false
	}
	token = local[len(bouncePrefix):]
	if len(token) != bounceTokenLen {
		return "", false
	}
	if _, err := bounceEncoding.DecodeString(token); err != nil {
		return "", false
	}
	return token, true
}
