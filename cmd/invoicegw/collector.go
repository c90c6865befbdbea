package main

import (
	"log/slog"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/redis/go-redis/v9"
)

// loginWindow is how long sign-in attempts are counted before their counters reset.
const loginWindow = 15 * time.Minute

// newCollector wires the collector workspace's use cases.
func newCollector(cfg serveConfig, db *postgres.DB, s3 *archive.S3, rdb *redis.Client, proof httpapi.ProofDeps, log *slog.Logger) (*gateway.Collector, error) {
	limiter := cache.NewLoginLimiter(rdb, "invoicegw:", cache.LoginLimits{Window: loginWindow,
		PerAccount: cfg.CollectorLoginPerAccount, PerIP: cfg.CollectorLoginPerIP})
	// Typed nils would make non-nil interfaces: pass the proof work only when wired.
	var bundler gateway.ProofBundler
	var disputes gateway.DisputeDesk
	if proof.Proofs != nil && proof.Disputes != nil {
		bundler, disputes = proof.Proofs, proof.Disputes
	}
	return gateway.NewCollector(db, s3, limiter, bundler, disputes,
		gateway.CollectorConfig{IdleTimeout: cfg.CollectorIdleTimeout, MaxAge: cfg.CollectorSessionMax}, time.Now, log)
}
