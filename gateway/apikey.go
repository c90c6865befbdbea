package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
	"time"
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

// APIKey is a tenant's API key as listed: never the key itself, only a hint of its
// last characters.
type APIKey struct {
	ID        string     `json:"id"`
	Object    string     `json:"object"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint"` // "igw_...abcd"
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	TenantID  string     `json:"-"`
}

// KeyStore keeps API keys by hash.
type KeyStore interface {
	// CreateAPIKey stores a key's hash. Errors: KindNotFound (no such tenant), KindUnavailable.
	CreateAPIKey(ctx context.Context, k APIKey, hash []byte) error
	// APIKeys lists a tenant's keys, oldest first. Errors: KindUnavailable.
	APIKeys(ctx context.Context, tenantID string) ([]APIKey, error)
	// RevokeAPIKey revokes one of the tenant's keys. Errors: KindNotFound, KindUnavailable.
	RevokeAPIKey(ctx context.Context, tenantID, id string, at time.Time) (APIKey, error)
}

// Keys manages a tenant's API keys, for the CLI and the API alike.
type Keys struct {
	store KeyStore
	now   func() time.Time
}

// NewKeys returns the API key use cases.
func NewKeys(store KeyStore, now func() time.Time) *Keys { return &Keys{store: store, now: now} }

// Create makes a new key for the tenant and returns it with its secret, which is
// shown this once.
func (k *Keys) Create(ctx context.Context, tenantID, name string) (APIKey, string, error) {
	var p Problems
	optionalText(&p, "name", name, 100)
	if err := p.Err("the API key has invalid fields"); err != nil {
		return APIKey{}, "", err
	}
	secret, hash, err := NewAPIKey()
	if err != nil {
		return APIKey{}, "", Wrap(KindInternal, err, "could not create the API key")
	}
	key := APIKey{ID: NewID("key"), Object: "api_key", Name: name, Hint: KeyHint(secret), CreatedAt: k.now().UTC(), TenantID: tenantID}
	if err := k.store.CreateAPIKey(ctx, key, hash); err != nil {
		return APIKey{}, "", err
	}
	return key, secret, nil
}

// List returns the tenant's keys.
func (k *Keys) List(ctx context.Context, tenantID string) ([]APIKey, error) {
	return k.store.APIKeys(ctx, tenantID)
}

// Revoke stops a key from working; requests with it are refused within seconds
// (the authentication cache's lifetime).
func (k *Keys) Revoke(ctx context.Context, tenantID, id string) (APIKey, error) {
	if !ValidID("key", id) {
		return APIKey{}, Errorf(KindNotFound, "API key %q not found", id)
	}
	return k.store.RevokeAPIKey(ctx, tenantID, id, k.now().UTC())
}

// KeyHint is what a list shows of a key: enough to recognise it, too little to use.
func KeyHint(key string) string {
	if len(key) < 8 {
		return apiKeyPrefix + "..."
	}
	return apiKeyPrefix + "..." + key[len(key)-4:]
}

// RateDecision is a rate limiter's answer for one request of an API key, reported
// to the client in RateLimit-* headers.
type RateDecision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // when refused: until one more request fits
	ResetAfter time.Duration // until the quota is full again
}
