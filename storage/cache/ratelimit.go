package cache

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/invoicegw/invoicegw/gateway"
	"github.com/redis/go-redis/v9"
)

// RateLimiter is a per-API-key limit of perSecond requests (GCRA in Redis, shared by
// every replica), with a burst of the same size.
type RateLimiter struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
	prefix  string
}

// NewRateLimiter limits each key to perSecond requests; prefix namespaces the Redis keys.
func NewRateLimiter(rdb *redis.Client, prefix string, perSecond int) *RateLimiter {
	return &RateLimiter{limiter: redis_rate.NewLimiter(rdb), limit: redis_rate.PerSecond(perSecond), prefix: prefix}
}

// Allow counts one request of key.
func (l *RateLimiter) Allow(ctx context.Context, key string) (gateway.RateDecision, error) {
	res, err := l.limiter.Allow(ctx, l.prefix+"rate:"+key, l.limit)
	if err != nil {
		return gateway.RateDecision{}, fmt.Errorf("rate limit: %w", err)
	}
	return gateway.RateDecision{Allowed: res.Allowed > 0, Limit: l.limit.Rate, Remaining: res.Remaining,
		RetryAfter: res.RetryAfter, ResetAfter: res.ResetAfter}, nil
}
