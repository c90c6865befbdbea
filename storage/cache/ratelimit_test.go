package cache_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/invoicegw/invoicegw/storage/cache/cachetest"
	"github.com/redis/go-redis/v9"
)

// allowAll calls Allow n times at once and returns the decisions.
func allowAll(t *testing.T, l *cache.RateLimiter, key string, n int) []gateway.RateDecision {
	t.Helper()
	ds := make([]gateway.RateDecision, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := l.Allow(t.Context(), key)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			ds[i] = d
		})
	}
	wg.Wait()
	return ds
}

func TestRateLimiterAdmitsTheBurstOnceAmongConcurrentRequests(t *testing.T) {
	rdb, prefix := cachetest.MustOpen(t)
	l := cache.NewRateLimiter(rdb, prefix, 2) // a token every 500 ms
	start := time.Now()
	ds := allowAll(t, l, "key_a", 30)
	refills := int(time.Since(start) / (500 * time.Millisecond))
	var allowed []int
	for _, d := range ds {
		if d.Limit != 2 {
			t.Errorf("limit = %d, want 2", d.Limit)
		}
		if d.Allowed {
			allowed = append(allowed, d.Remaining)
			continue
		}
		if d.RetryAfter <= 0 || d.RetryAfter > 500*time.Millisecond {
			t.Errorf("refused with RetryAfter %v, want (0, 500ms]", d.RetryAfter)
		}
	}
	if len(allowed) < 2 || len(allowed) > 2+refills {
		t.Fatalf("%d of 30 concurrent requests admitted with a burst of 2 (%d refills meanwhile)", len(allowed), refills)
	}
	if slices.Sort(allowed); refills == 0 && !slices.Equal(allowed, []int{0, 1}) {
		t.Errorf("remaining of the admitted = %v, want [0 1]: each sees what is left after it", allowed)
	}
	// Another key has its own quota.
	if d, err := l.Allow(t.Context(), "key_b"); err != nil || !d.Allowed || d.Remaining != 1 {
		t.Errorf("other key: %+v, %v; want admitted with 1 remaining", d, err)
	}
}

// callHook counts the rate-limit script's calls by the number of requests each asked
// for, and holds the first one until release is closed.
type callHook struct {
	mu      sync.Mutex
	asked   []int64
	entered chan struct{}
	release chan struct{}
}

func (h *callHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *callHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *callHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "evalsha" && name != "eval" {
			return next(ctx, cmd)
		}
		args := cmd.Args()
		n, _ := args[len(args)-1].(int)
		h.mu.Lock()
		first := len(h.asked) == 0
		h.asked = append(h.asked, int64(n))
		h.mu.Unlock()
		if first {
			close(h.entered)
			<-h.release
		}
		return next(ctx, cmd)
	}
}

func TestRateLimiterAsksOnceForTheRequestsThatWaitedForACall(t *testing.T) {
	rdb, prefix := cachetest.MustOpen(t)
	h := &callHook{entered: make(chan struct{}), release: make(chan struct{})}
	rdb.AddHook(h)
	l := cache.NewRateLimiter(rdb, prefix, 1000)
	first := make(chan gateway.RateDecision, 1)
	go func() {
		d, err := l.Allow(t.Context(), "key")
		if err != nil {
			t.Errorf("Allow: %v", err)
		}
		first <- d
	}()
	<-h.entered
	var ds []gateway.RateDecision
	done := make(chan struct{})
	go func() { ds = allowAll(t, l, "key", 20); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); l.Waiting("key") < 20; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want 20", l.Waiting("key"))
		}
	}
	close(h.release)
	<-done
	d0 := <-first
	// The script may be sent twice for one call (EVALSHA, then EVAL when Redis does
	// not know it yet), with the same count.
	h.mu.Lock()
	asked := slices.Compact(h.asked)
	h.mu.Unlock()
	if !slices.Equal(asked, []int64{1, 20}) {
		t.Errorf("calls asked for %v requests, want [1 20]: the 20 that waited go in one call", asked)
	}
	if !d0.Allowed {
		t.Errorf("first request refused: %+v", d0)
	}
	var remaining []int
	for _, d := range ds {
		if !d.Allowed {
			t.Fatalf("request refused under a limit of 1000/s: %+v", d)
		}
		remaining = append(remaining, d.Remaining)
	}
	slices.Sort(remaining)
	for i := range remaining {
		if remaining[i] != remaining[0]+i {
			t.Fatalf("remaining of one call's requests = %v, want one step apart: each sees what is left after it", remaining)
		}
	}
	if remaining[len(remaining)-1] >= d0.Remaining+2 {
		t.Errorf("remaining %v after the first request's %d", remaining, d0.Remaining)
	}
}
