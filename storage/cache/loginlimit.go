package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/redis/go-redis/v9"
)

// LoginLimits are the sign-in attempt budgets per window.
type LoginLimits struct {
	Window     time.Duration // counters reset this long after their first attempt
	PerAccount int64         // attempts on one e-mail address per window
	PerIP      int64         // attempts from one client address per window
}

// LoginLimiter counts collector sign-in attempts in fixed windows, per account and
// per client address. Every attempt counts (not just failures), so parallel guesses
// cannot slip past a check-then-count race; a success clears the account's count.
// When Redis is down sign-in is refused (KindUnavailable) rather than left
// unlimited. Safe for concurrent use.
type LoginLimiter struct {
	rdb    *redis.Client
	prefix string
	limits LoginLimits
}

var _ gateway.LoginLimiter = (*LoginLimiter)(nil)

// NewLoginLimiter keeps its counters under prefix+"login:".
func NewLoginLimiter(rdb *redis.Client, prefix string, limits LoginLimits) *LoginLimiter {
	return &LoginLimiter{rdb: rdb, prefix: prefix + "login:", limits: limits}
}

// key hashes the account or address: e-mail addresses stay out of Redis.
func (l *LoginLimiter) key(kind, v string) string {
	sum := sha256.Sum256([]byte(v))
	return l.prefix + kind + ":" + hex.EncodeToString(sum[:16])
}

// LoginAttempt counts one attempt and returns the wait when over a limit.
func (l *LoginLimiter) LoginAttempt(ctx context.Context, account, ip string) (time.Duration, error) {
	keys := []struct {
		key   string
		limit int64
	}{{l.key("acct", account), l.limits.PerAccount}, {l.key("ip", ip), l.limits.PerIP}}
	pipe := l.rdb.TxPipeline()
	counts := make([]*redis.IntCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		counts[i] = pipe.Incr(ctx, k.key)
		pipe.ExpireNX(ctx, k.key, l.limits.Window)
		ttls[i] = pipe.PTTL(ctx, k.key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, gateway.Wrap(gateway.KindUnavailable, err, "sign-in is unavailable right now; try again shortly")
	}
	var wait time.Duration
	for i, k := range keys {
		if counts[i].Val() > k.limit {
			w := ttls[i].Val()
			if w <= 0 {
				w = l.limits.Window
			}
			wait = max(wait, w)
		}
	}
	return wait, nil
}

// LoginSucceeded clears the account's counter.
func (l *LoginLimiter) LoginSucceeded(ctx context.Context, account string) error {
	if err := l.rdb.Del(ctx, l.key("acct", account)).Err(); err != nil {
		return gateway.Wrap(gateway.KindUnavailable, err, "reset sign-in attempts")
	}
	return nil
}
