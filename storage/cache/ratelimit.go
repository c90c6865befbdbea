package cache

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/redis/go-redis/v9"
)

// rateCallTimeout bounds one round trip to Redis on behalf of the requests waiting
// for it; past it they get the error (and the caller lets them through).
const rateCallTimeout = 3 * time.Second

// RateLimiter is a per-API-key limit of perSecond requests (GCRA in Redis, shared by
// every replica), with a burst of the same size.
//
// Requests of one key that arrive while its Redis call is out wait for the next
// call, which asks for all of them at once: the limit is still decided in Redis for
// every request, in arrival order, with the answers one call each would have had,
// but a busy key costs a round trip per group instead of per request (the same idea
// as the intake's group commit).
type RateLimiter struct {
	rdb      *redis.Client
	perSec   int
	interval time.Duration // one request's share of a second
	prefix   string

	mu   sync.Mutex
	keys map[string]*rateKey
}

// rateKey is one API key's requests waiting for a Redis call, and whether one is out.
type rateKey struct {
	pending []*rateWaiter
	running bool
}

type rateWaiter struct {
	done chan struct{}
	d    gateway.RateDecision
	err  error
}

// NewRateLimiter limits each key to perSecond (> 0) requests; prefix namespaces the
// Redis keys.
func NewRateLimiter(rdb *redis.Client, prefix string, perSecond int) *RateLimiter {
	return &RateLimiter{rdb: rdb, perSec: perSecond, interval: time.Second / time.Duration(perSecond), prefix: prefix,
		keys: map[string]*rateKey{}}
}

// Allow counts one request of key. The error is Redis's (or ctx's): the caller
// decides whether to let the request through.
func (l *RateLimiter) Allow(ctx context.Context, key string) (gateway.RateDecision, error) {
	w := &rateWaiter{done: make(chan struct{})}
	l.mu.Lock()
	k := l.keys[key]
	if k == nil {
		k = &rateKey{}
		l.keys[key] = k
	}
	k.pending = append(k.pending, w)
	start := !k.running
	k.running = true
	l.mu.Unlock()
	if start {
		go l.run(key, k)
	}
	select {
	case <-w.done:
		return w.d, w.err
	case <-ctx.Done():
		// The request is counted all the same once its group reaches Redis.
		return gateway.RateDecision{}, fmt.Errorf("rate limit: %w", ctx.Err())
	}
}

// run asks Redis for the waiting requests of key, a group at a time, until none waits.
func (l *RateLimiter) run(key string, k *rateKey) {
	for {
		l.mu.Lock()
		group := k.pending
		k.pending = nil
		if len(group) == 0 {
			k.running = false
			delete(l.keys, key)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.decide(key, group)
	}
}

// decide takes up to len(group) requests from key's quota in one call and tells each
// waiter, in arrival order, whether it fits and what is left after it.
func (l *RateLimiter) decide(key string, group []*rateWaiter) {
	ctx, cancel := context.WithTimeout(context.Background(), rateCallTimeout)
	defer cancel()
	allowed, remaining, retryAfter, resetAfter, err := l.take(ctx, key, len(group))
	for i, w := range group {
		switch {
		case err != nil:
			w.err = err
		case i < allowed:
			// As if each had called alone: the earlier ones saw more left.
			later := time.Duration(allowed-1-i) * l.interval
			w.d = gateway.RateDecision{Allowed: true, Limit: l.perSec, Remaining: remaining + allowed - 1 - i,
				ResetAfter: max(resetAfter-later, 0)}
		default:
			w.d = gateway.RateDecision{Limit: l.perSec, RetryAfter: retryAfter, ResetAfter: resetAfter}
		}
		close(w.done)
	}
}

// take runs the GCRA for n requests of key at once: how many fit (the first ones),
// how many more would fit after them, and, when some did not fit, how long until one
// more does. The stored state is redis_rate's (its key, and the theoretical arrival
// time in seconds since 2017), which this replaced, so replicas of either version
// share one limit during an upgrade.
func (l *RateLimiter) take(ctx context.Context, key string, n int) (allowed, remaining int, retryAfter, resetAfter time.Duration, err error) {
	v, err := gcraTake.Run(ctx, l.rdb, []string{"rate:" + l.prefix + "rate:" + key}, l.perSec, l.perSec, 1, n).Slice()
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("rate limit: %w", err)
	}
	if len(v) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("rate limit: %d values from the script, want 4", len(v))
	}
	a, _ := v[0].(int64)
	r, _ := v[1].(int64)
	retry, err1 := parseSeconds(v[2])
	reset, err2 := parseSeconds(v[3])
	if err1 != nil || err2 != nil {
		return 0, 0, 0, 0, fmt.Errorf("rate limit: unreadable answer %v", v)
	}
	return int(a), int(r), retry, reset, nil
}

func parseSeconds(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("not a string: %v", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Second)), err
}

// gcraTake is redis_rate's GCRA (burst, rate per period) for up to ARGV[4] requests
// at once, of which it admits as many whole ones as fit: request by request the
// answers of that many single calls. It returns {allowed, remaining, retry_after,
// reset_after}, the durations in seconds as strings; retry_after is -1 when all
// were admitted.
var gcraTake = redis.NewScript(`
redis.replicate_commands()
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local interval = period / rate
local burst_offset = interval * burst

local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local tat = now
local stored = redis.call("GET", KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end

local allowed = math.floor((now - (tat - burst_offset)) / interval)
allowed = math.max(0, math.min(n, allowed))
if allowed > 0 then
  tat = tat + interval * allowed
  redis.call("SET", KEYS[1], tat, "EX", math.ceil(tat - now))
end

local diff = now - (tat - burst_offset)
local retry_after = -1
if allowed < n then
  retry_after = interval - diff
end
return {allowed, math.max(0, math.floor(diff / interval)), tostring(retry_after), tostring(tat - now)}
`)
