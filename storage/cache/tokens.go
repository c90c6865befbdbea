package cache

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds each Redis call on the pixel path. A local Redis answers in well
// under a millisecond; past this it is faster to ask Postgres than to keep waiting.
const redisTimeout = 50 * time.Millisecond

// Tokens is a read-through cache of tracking tokens in front of the truth (Postgres).
// Tokens never change once issued, so a cached entry cannot go stale; the TTL only
// keeps Redis from filling with tokens of old invoices. Losing Redis loses nothing: on
// any Redis error it logs and falls through to next. Safe for concurrent use.
type Tokens struct {
	rdb    *redis.Client
	next   gateway.TokenResolver
	prefix string
	ttl    time.Duration
	log    *slog.Logger
	// failing is set while Redis is failing, so that an outage is logged once when it
	// starts and once when it ends instead of on every pixel request.
	failing atomic.Bool
}

var _ gateway.TokenResolver = (*Tokens)(nil)

// NewTokens caches what next resolves under keys prefix+"tok:"+hex(hash) for ttl
// (0: no expiry). log may be nil.
// rdb should come from Open, which makes it honour the short per-call deadlines.
func NewTokens(rdb *redis.Client, next gateway.TokenResolver, prefix string, ttl time.Duration, log *slog.Logger) *Tokens {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !rdb.Options().ContextTimeoutEnabled {
		log.Warn("redis client ignores context deadlines; a hung redis will slow token lookups",
			"hint", "open the client with cache.Open")
	}
	return &Tokens{rdb: rdb, next: next, prefix: prefix, ttl: ttl, log: log}
}

// cachedToken is the stored form of a gateway.Token: short keys because there is one
// per e-mail sent, and no hash because the key already holds it.
type cachedToken struct {
	Kind       gateway.TokenKind `json:"k"`
	DeliveryID string            `json:"d"`
	InvoiceID  string            `json:"i"`
	TenantID   string            `json:"t"`
}

// ResolveToken answers from Redis when it can and from next otherwise. Errors are
// next's: KindNotFound for an unknown token, KindUnavailable when the store cannot be
// reached. Unknown tokens are not cached, so a token is usable the moment it is stored.
func (t *Tokens) ResolveToken(ctx context.Context, hash []byte) (gateway.Token, error) {
	key := t.prefix + "tok:" + hex.EncodeToString(hash)

	tok, hit, redisOK := t.lookup(ctx, key, hash)
	if hit {
		return tok, nil
	}
	tok, err := t.next.ResolveToken(ctx, hash)
	if err != nil {
		return gateway.Token{}, err
	}
	// After a failed read Redis is most likely down: writing would only wait out a
	// second timeout on the request path.
	if redisOK {
		t.store(ctx, key, tok)
	}
	return tok, nil
}

// lookup reads key. redisOK reports whether Redis answered at all.
func (t *Tokens) lookup(ctx context.Context, key string, hash []byte) (tok gateway.Token, hit, redisOK bool) {
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	raw, err := t.rdb.Get(rctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		t.recovered(ctx)
		return gateway.Token{}, false, true
	}
	if err != nil {
		t.failed(ctx, fmt.Errorf("get cached token: %w", err))
		return gateway.Token{}, false, false
	}
	t.recovered(ctx)
	var c cachedToken
	if err := json.Unmarshal(raw, &c); err != nil || c.DeliveryID == "" {
		// A value from an older encoding or a stray write: ignore it; the fresh value
		// from next overwrites it.
		t.log.WarnContext(ctx, "ignoring undecodable cached token", "key", key, "error", err)
		return gateway.Token{}, false, true
	}
	return gateway.Token{
		Hash:       bytes.Clone(hash), // the caller may reuse its buffer
		Kind:       c.Kind,
		DeliveryID: c.DeliveryID,
		InvoiceID:  c.InvoiceID,
		TenantID:   c.TenantID,
	}, true, true
}

func (t *Tokens) store(ctx context.Context, key string, tok gateway.Token) {
	raw, err := json.Marshal(cachedToken{
		Kind:       tok.Kind,
		DeliveryID: tok.DeliveryID,
		InvoiceID:  tok.InvoiceID,
		TenantID:   tok.TenantID,
	})
	if err != nil {
		t.log.ErrorContext(ctx, "encode token for cache", "error", err)
		return
	}
	// The caller has its answer already; a cancelled request should not leave the
	// cache cold, so the write gets its own short deadline, detached from ctx.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	if err := t.rdb.Set(rctx, key, raw, t.ttl).Err(); err != nil {
		t.failed(ctx, fmt.Errorf("cache token: %w", err))
		return
	}
	t.recovered(ctx)
}

// failed logs err only when Redis was healthy until now: during an outage every
// request fails the same way and one line says it all.
func (t *Tokens) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about Redis.
		return
	}
	if t.failing.CompareAndSwap(false, true) {
		t.log.WarnContext(ctx, "token cache unavailable, reading tokens from the store", "error", err)
	}
}

func (t *Tokens) recovered(ctx context.Context) {
	if t.failing.CompareAndSwap(true, false) {
		t.log.InfoContext(ctx, "token cache available again")
	}
}
