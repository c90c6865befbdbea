package cache

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis at url (redis://[user:pass@]host:port/db, or rediss://
// for TLS) and checks that it answers.
func Open(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// ParseURL's errors do not repeat the URL, so a password in it stays out of logs.
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	// Without this go-redis ignores context deadlines on the socket and waits its own
	// 3 s read timeout: a hung Redis would then stall every pixel request that long.
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s (db %d): %w", opts.Addr, opts.DB, err)
	}
	return rdb, nil
}
