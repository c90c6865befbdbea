package main

import (
	"log/slog"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/redis/go-redis/v9"
)

// loginWindow is how long sign-in attempts are counted before their counters reset.
const loginWindow = 15 * time.Minute

// newCollector wires the collector workspace's use cases.
func newCollector(cfg serveConfig, db *postgres.DB, s3 *archive.S3, rdb *redis.Client, log *slog.Logger) (*gateway.Collector, error) {
	limiter := cache.NewLoginLimiter(rdb, "invoicegw:", cache.LoginLimits{Window: loginWindow,
		PerAccount: cfg.CollectorLoginPerAccount, PerIP: cfg.CollectorLoginPerIP})
	// The proof bundle and the disputes desk come with the proof work; until then
	// the workspace says they are not available.
	return gateway.NewCollector(db, s3, limiter, nil, nil,
		gateway.CollectorConfig{IdleTimeout: cfg.CollectorIdleTimeout, MaxAge: cfg.CollectorSessionMax}, time.Now, log)
}
