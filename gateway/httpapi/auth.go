package httpapi

import (
	"context"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
)

// RateLimiter decides whether one more request of an API key fits its quota.
type RateLimiter interface {
	// Allow counts one request for key. An error means the limiter is unavailable;
	// the request is then let through.
	Allow(ctx context.Context, key string) (gateway.RateDecision, error)
}

// keyCache remembers key look-ups for a few seconds, so that a busy client costs
// one database query per TTL instead of one per request. A revoked key keeps
// working for at most the TTL; unknown keys are never cached, so a new key works
// at once.
//
// Requests that miss while a look-up of their key is out wait for it instead of
// sending their own: a fresh gateway, or a busy key whose entry just expired, would
// otherwise send one query per request in flight (at 1,000/s, dozens at once).
type keyCache struct {
	ttl      time.Duration
	now      func() time.Time
	mu       sync.Mutex
	m        map[string]cachedTenant
	inFlight map[string]*keyLookup
}

// keyLookup is a look-up of one key that later requests of the key wait for.
type keyLookup struct {
	done   chan struct{}
	tenant gateway.Tenant
	err    error
}

// keyLookupTimeout bounds a shared look-up, which runs apart from the context of
// the request that started it: its waiters must not fail because that one left.
const keyLookupTimeout = 10 * time.Second

type cachedTenant struct {
	tenant  gateway.Tenant
	expires time.Time
}

// keyCacheMax bounds the cache; when full it is simply emptied (keys are few).
const keyCacheMax = 10_000

func newKeyCache(ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{ttl: ttl, now: now, m: map[string]cachedTenant{}, inFlight: map[string]*keyLookup{}}
}

// resolve returns the tenant of the key with hash id: cached, or from lookup, which
// concurrent misses of one key share. Without a TTL every call looks up.
func (k *keyCache) resolve(ctx context.Context, id string, lookup func(context.Context) (gateway.Tenant, error)) (gateway.Tenant, error) {
	if k.ttl <= 0 {
		return lookup(ctx)
	}
	k.mu.Lock()
	if e, ok := k.m[id]; ok && !k.now().After(e.expires) {
		k.mu.Unlock()
		return e.tenant, nil
	}
	l := k.inFlight[id]
	if l == nil {
		l = &keyLookup{done: make(chan struct{})}
		k.inFlight[id] = l
		go k.run(context.WithoutCancel(ctx), id, l, lookup)
	}
	k.mu.Unlock()
	select {
	case <-l.done:
		return l.tenant, l.err
	case <-ctx.Done():
		return gateway.Tenant{}, gateway.Wrap(gateway.KindUnavailable, ctx.Err(), "the request ended before its API key was checked")
	}
}

func (k *keyCache) run(ctx context.Context, id string, l *keyLookup, lookup func(context.Context) (gateway.Tenant, error)) {
	ctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
	defer cancel()
	l.tenant, l.err = lookup(ctx)
	k.mu.Lock()
	delete(k.inFlight, id)
	if l.err == nil {
		if len(k.m) >= keyCacheMax {
			clear(k.m)
		}
		k.m[id] = cachedTenant{tenant: l.tenant, expires: k.now().Add(k.ttl)}
	}
	k.mu.Unlock()
	close(l.done)
}

// authenticate resolves the bearer API key to its tenant, applies the key's rate
// limit, and stores the tenant in the request context. The key's hash is looked up
// by equality in a unique index: there is no secret comparison in Go code that
// could leak timing; the checksum rejects mistyped keys before any look-up.
func (h *handlers) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		auth := c.Request().Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || key == "" {
			return gateway.Errorf(gateway.KindUnauthorized, `send your API key as "Authorization: Bearer igw_..."`)
		}
		hash, err := gateway.HashAPIKey(strings.TrimSpace(key))
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		id := hex.EncodeToString(hash)
		tenant, err := h.keys.resolve(ctx, id, func(ctx context.Context) (gateway.Tenant, error) {
			return h.Auth.TenantByKeyHash(ctx, hash)
		})
		if err != nil {
			if gateway.ErrorKind(err) == gateway.KindNotFound {
				return gateway.Errorf(gateway.KindUnauthorized, "the API key is unknown or revoked")
			}
			return err
		}
		if h.RateLimit != nil {
			if err := h.limit(c, id[:32]); err != nil {
				return err
			}
		}
		c.SetRequest(c.Request().WithContext(context.WithValue(ctx, tenantKey{}, tenant)))
		return next(c)
	}
}

// limit applies the per-key quota and reports it in the RateLimit-* headers of the
// IETF draft. When Redis is down requests go through: a cache outage must not
// become an API outage.
func (h *handlers) limit(c echo.Context, keyID string) error {
	ctx := c.Request().Context()
	d, err := h.RateLimit.Allow(ctx, keyID)
	if err != nil {
		h.Log.WarnContext(ctx, "rate limiter unavailable, request let through", "err", err)
		return nil
	}
	hd := c.Response().Header()
	hd.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	hd.Set("RateLimit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
	hd.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.ResetAfter)))
	if !d.Allowed {
		hd.Set("Retry-After", strconv.Itoa(max(ceilSeconds(d.RetryAfter), 1)))
		return echo.NewHTTPError(http.StatusTooManyRequests, "this API key sent more requests than its limit of "+strconv.Itoa(d.Limit)+" per second; retry after the number of seconds in Retry-After")
	}
	return nil
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
