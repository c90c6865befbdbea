// Package cachetest gives tests of any package the development Redis under a key prefix
// of their own, so that tests can run in parallel against one Redis and leave nothing
// behind. It lives in a non-test file because other packages' tests import it.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/invoicegw/invoicegw/storage/servicetest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/redis/go-redis/v9"
)

const (
	defaultURL = "redis://127.0.0.1:6379/0"
	// setupTimeout bounds connecting: an unreachable Redis must skip or fail the test
	// promptly, not hang it.
	setupTimeout = 5 * time.Second
	// cleanupTimeout bounds deleting the test's keys.
	cleanupTimeout = 10 * time.Second
)

// MustOpen connects to INVOICEGW_TEST_REDIS_URL (default redis://127.0.0.1:6379/0) and
// returns the client and a key prefix unique to this test. When the test ends every
// key under the prefix is deleted and the client closed. When Redis cannot be reached
// the test is skipped, except with CI=true, where a missing service must fail the
// build rather than let integration tests pass by not running.
func MustOpen(t testing.TB) (rdb *redis.Client, prefix string) {
	t.Helper()
	url := os.Getenv("INVOICEGW_TEST_REDIS_URL")
	if url == "" {
		url = defaultURL
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse INVOICEGW_TEST_REDIS_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	rdb, err = cache.Open(ctx, url)
	if err != nil {
		msg := fmt.Sprintf("redis at %s is unreachable; run `make test` (it starts Redis): %v", opts.Addr, err)
		servicetest.Unavailable(t, msg)
	}
	prefix = keyPrefix(t.Name())
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := deletePrefix(ctx, rdb, prefix); err != nil {
			t.Errorf("delete test keys under %q: %v", prefix, err)
		}
		if err := rdb.Close(); err != nil {
			t.Errorf("close redis client: %v", err)
		}
	})
	return rdb, prefix
}

// keyPrefix is "test:" plus the test's name reduced to characters that are not glob
// patterns (so SCAN MATCH prefix* matches only this test's keys) plus a random part
// that keeps repeated and parallel runs apart.
func keyPrefix(testName string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '/':
			return r
		}
		return '_'
	}, testName)
	random := make([]byte, 4)
	_, _ = rand.Read(random) // never fails (crypto/rand panics instead)
	return "test:" + safe + ":" + hex.EncodeToString(random) + ":"
}

// deletePrefix removes every key starting with prefix. SCAN rather than KEYS, so a
// shared development Redis is never blocked.
func deletePrefix(ctx context.Context, rdb *redis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 100 {
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("delete keys: %w", err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan keys: %w", err)
	}
	if len(batch) > 0 {
		if err := rdb.Del(ctx, batch...).Err(); err != nil {
			return fmt.Errorf("delete keys: %w", err)
		}
	}
	return nil
}
