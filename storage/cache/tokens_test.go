package cache_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/invoicegw/invoicegw/storage/cache/cachetest"
	"github.com/redis/go-redis/v9"
)

// store is a counting fake of the consumer-side gateway.TokenResolver, standing in for
// Postgres: what is under test is the cache in front of it, and Redis is real.
type store struct {
	mu     sync.Mutex
	tokens map[string]gateway.Token
	calls  int
}

func newStore(toks ...gateway.Token) *store {
	s := &store{tokens: map[string]gateway.Token{}}
	for _, tok := range toks {
		s.tokens[string(tok.Hash)] = tok
	}
	return s
}

func (s *store) ResolveToken(_ context.Context, hash []byte) (gateway.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	tok, ok := s.tokens[string(hash)]
	if !ok {
		return gateway.Token{}, gateway.Errorf(gateway.KindNotFound, "unknown tracking token")
	}
	return tok, nil
}

func (s *store) add(tok gateway.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[string(tok.Hash)] = tok
}

func (s *store) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var pixel = gateway.Token{
	Hash:       []byte{0xde, 0xad, 0xbe, 0xef, 0x01},
	Kind:       gateway.TokenPixel,
	DeliveryID: "dlv_1",
	InvoiceID:  "inv_1",
	TenantID:   "ten_1",
}

// logBuffer collects slog output for assertions; safe for the concurrent writes slog makes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func TestHitAfterMissSkipsTheStore(t *testing.T) {
	t.Parallel()
	rdb, prefix := cachetest.MustOpen(t)
	st := newStore(pixel)
	log, logs := newLogger()
	toks := cache.NewTokens(rdb, st, prefix, time.Minute, log)
	ctx := t.Context()

	for i := range 3 {
		got, err := toks.ResolveToken(ctx, pixel.Hash)
		if err != nil {
			t.Fatalf("ResolveToken call %d: %v", i+1, err)
		}
		if !equalToken(got, pixel) {
			t.Errorf("ResolveToken call %d = %+v, want %+v", i+1, got, pixel)
		}
	}
	if got := st.callCount(); got != 1 {
		t.Errorf("store called %d times for 3 lookups, want 1", got)
	}

	key := prefix + "tok:" + hex.EncodeToString(pixel.Hash)
	ttl, err := rdb.TTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("TTL %s: %v", key, err)
	}
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL of %s = %v, want in (0, 1m]", key, ttl)
	}
	if s := logs.String(); s != "" {
		t.Errorf("logged with a healthy Redis:\n%s", s)
	}
}

func TestNotFoundPassesThroughAndIsNotCached(t *testing.T) {
	t.Parallel()
	rdb, prefix := cachetest.MustOpen(t)
	st := newStore()
	toks := cache.NewTokens(rdb, st, prefix, time.Minute, nil)
	ctx := t.Context()

	_, err := toks.ResolveToken(ctx, pixel.Hash)
	if got := gateway.ErrorKind(err); got != gateway.KindNotFound {
		t.Fatalf("ResolveToken of an unknown token: kind %q (err %v), want %q", got, err, gateway.KindNotFound)
	}

	// A token stored right after a miss must work at once.
	st.add(pixel)
	got, err := toks.ResolveToken(ctx, pixel.Hash)
	if err != nil {
		t.Fatalf("ResolveToken after the token was stored: %v", err)
	}
	if !equalToken(got, pixel) {
		t.Errorf("ResolveToken = %+v, want %+v", got, pixel)
	}
}

func TestStoreErrorsPassThrough(t *testing.T) {
	t.Parallel()
	rdb, prefix := cachetest.MustOpen(t)
	down := resolverFunc(func(context.Context, []byte) (gateway.Token, error) {
		return gateway.Token{}, gateway.Errorf(gateway.KindUnavailable, "database unreachable")
	})
	toks := cache.NewTokens(rdb, down, prefix, time.Minute, nil)
	_, err := toks.ResolveToken(t.Context(), pixel.Hash)
	if got := gateway.ErrorKind(err); got != gateway.KindUnavailable {
		t.Errorf("kind %q (err %v), want %q", got, err, gateway.KindUnavailable)
	}
}

func TestUndecodableEntryIsReplaced(t *testing.T) {
	t.Parallel()
	rdb, prefix := cachetest.MustOpen(t)
	ctx := t.Context()
	key := prefix + "tok:" + hex.EncodeToString(pixel.Hash)
	if err := rdb.Set(ctx, key, "not json", time.Minute).Err(); err != nil {
		t.Fatalf("seed %s: %v", key, err)
	}
	st := newStore(pixel)
	toks := cache.NewTokens(rdb, st, prefix, time.Minute, nil)
	for i := range 2 {
		got, err := toks.ResolveToken(ctx, pixel.Hash)
		if err != nil {
			t.Fatalf("ResolveToken call %d: %v", i+1, err)
		}
		if !equalToken(got, pixel) {
			t.Errorf("ResolveToken call %d = %+v, want %+v", i+1, got, pixel)
		}
	}
	if got := st.callCount(); got != 1 {
		t.Errorf("store called %d times, want 1 (the bad entry replaced after the first)", got)
	}
}

func TestRedisDownFallsThroughQuickly(t *testing.T) {
	t.Parallel()
	hung := hungListener(t)
	tests := []struct {
		name string
		opts *redis.Options
	}{
		{"answers from the store when the port is closed", &redis.Options{Addr: "127.0.0.1:1"}},
		// A server that accepts and never answers: only the per-call deadline saves us.
		{"answers from the store when redis hangs", &redis.Options{Addr: hung, ContextTimeoutEnabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewClient(tt.opts)
			t.Cleanup(func() { _ = rdb.Close() })
			st := newStore(pixel)
			log, logs := newLogger()
			toks := cache.NewTokens(rdb, st, "test:", time.Minute, log)

			for i := range 3 {
				start := time.Now()
				got, err := toks.ResolveToken(t.Context(), pixel.Hash)
				elapsed := time.Since(start)
				if err != nil {
					t.Fatalf("ResolveToken call %d: %v", i+1, err)
				}
				if !equalToken(got, pixel) {
					t.Errorf("ResolveToken call %d = %+v, want %+v", i+1, got, pixel)
				}
				// 50 ms per Redis call plus scheduling slack on a busy machine.
				if elapsed > 500*time.Millisecond {
					t.Errorf("ResolveToken call %d took %v, want well under 500ms", i+1, elapsed)
				}
			}
			if got := st.callCount(); got != 3 {
				t.Errorf("store called %d times, want 3 (nothing can be cached)", got)
			}
			if got := strings.Count(logs.String(), "token cache unavailable"); got != 1 {
				t.Errorf("logged the outage %d times over 3 lookups, want once:\n%s", got, logs.String())
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"names a malformed url", "mysql://127.0.0.1:6379", "parse redis url"},
		{"names the unreachable address", "redis://127.0.0.1:1/0", "connect to redis at 127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			rdb, err := cache.Open(ctx, tt.url)
			if err == nil {
				_ = rdb.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.url)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%q) error = %q, want it to contain %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestOpenConnects(t *testing.T) {
	t.Parallel()
	rdb, _ := cachetest.MustOpen(t)
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if !rdb.Options().ContextTimeoutEnabled {
		t.Error("Open returned a client that ignores context deadlines")
	}
}

type resolverFunc func(context.Context, []byte) (gateway.Token, error)

func (f resolverFunc) ResolveToken(ctx context.Context, hash []byte) (gateway.Token, error) {
	return f(ctx, hash)
}

// hungListener accepts connections and never answers, like a Redis stuck in a long
// command or behind a black-holing network.
func hungListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func equalToken(a, b gateway.Token) bool {
	return bytes.Equal(a.Hash, b.Hash) && a.Kind == b.Kind && a.DeliveryID == b.DeliveryID &&
		a.InvoiceID == b.InvoiceID && a.TenantID == b.TenantID
}
