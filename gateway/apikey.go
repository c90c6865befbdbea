package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// API keys look like "igw_" + 40 base62 characters of randomness + 6 base62
// characters of CRC32 checksum, the shape secret scanners recognise (as GitHub's
// tokens do): the prefix names the product, the checksum lets a scanner or this
// gateway reject a mistyped key without a database look-up.
const (
	apiKeyPrefix   = "igw_"
	apiKeyBodyLen  = 40
	apiKeyCheckLen = 6
	base62         = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewAPIKey returns a new key and the SHA-256 hash under which it is stored. The key
// itself is shown once and never stored.
func NewAPIKey() (key string, hash []byte, err error) {
	var b strings.Builder
	b.WriteString(apiKeyPrefix)
	max := big.NewInt(int64(len(base62)))
	for range apiKeyBodyLen {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", nil, fmt.Errorf("generate api key: %w", err)
		}
		b.WriteByte(base62[n.Int64()])
	}
	b.WriteString(checksum62(b.String()[len(apiKeyPrefix):]))
	key = b.String()
	sum := sha256.Sum256([]byte(key))
	return key, sum[:], nil
}

// HashAPIKey checks a presented key's shape and checksum and returns the hash to
// look it up by. A malformed key is KindUnauthorized.
func HashAPIKey(key string) ([]byte, error) {
	body, ok := strings.CutPrefix(key, apiKeyPrefix)
	if !ok || len(body) != apiKeyBodyLen+apiKeyCheckLen || strings.Trim(body, base62) != "" {
		return nil, Errorf(KindUnauthorized, "the API key is malformed")
	}
	if checksum62(body[:apiKeyBodyLen]) != body[apiKeyBodyLen:] {
		return nil, Errorf(KindUnauthorized, "the API key is malformed")
	}
	sum := sha256.Sum256([]byte(key))
	return sum[:], nil
}

func checksum62(s string) string {
	n := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, apiKeyCheckLen)
	for i := apiKeyCheckLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}
