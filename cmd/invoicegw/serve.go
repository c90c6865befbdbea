package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/invoicegw/invoicegw/gateway/jobs"
	"github.com/invoicegw/invoicegw/gateway/mailer"
	"github.com/invoicegw/invoicegw/gateway/stdwebhook"
	"github.com/invoicegw/invoicegw/render"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/invoicegw/invoicegw/storage/hitlog"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/templates"
	"github.com/invoicegw/invoicegw/tracking"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated with the configuration
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stdout)
	doMigrate := fs.Bool("migrate", false, "apply database migrations before serving")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var cfg serveConfig
	if err := parseEnv(&cfg, getenv); err != nil {
		return err
	}
	proxies, err := cfg.validate()
	if err != nil {
		return err
	}
	if err := cfg.ReportsConfig.validate(cfg.BounceDomain); err != nil {
		return err
	}
	log := newLogger(stdout, cfg.LogLevel)
	transport, err := cfg.DeliveryConfig.transport(cfg.SMTPURL, log)
	if err != nil {
		return err
	}

	// Every delivery worker holds a connection through its transactions; API requests,
	// the webhook queue and River's own maintenance need more besides.
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, int32(cfg.Workers)+16)
	if err != nil {
		return fmt.Errorf("INVOICEGW_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	if *doMigrate {
		if err := postgres.Migrate(ctx, pool, log); err != nil {
			return err
		}
	} else if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	attempts := jobs.AttemptsFor(cfg.RetryBase, cfg.RetryMax, cfg.RetryHorizon)
	db, err := postgres.New(pool, attempts)
	if err != nil {
		return err
	}
	rdb, err := cache.Open(ctx, cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("INVOICEGW_REDIS_URL: %w", err)
	}
	defer rdb.Close()
	s3, err := archive.New(archive.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Lock: cfg.DeliveryConfig.lock()})
	if err != nil {
		return fmt.Errorf("INVOICEGW_S3_*: %w", err)
	}
	renderer, err := render.New()
	if err != nil {
		return err
	}
	tmpl, err := templates.New()
	if err != nil {
		return err
	}
	classifier, err := tracking.NewClassifierFrom(cfg.TrackingDataDir)
	if err != nil {
		return fmt.Errorf("INVOICEGW_TRACKING_DATA_DIR: %w", err)
	}
	pageKey := []byte(cfg.PageSecret)
	if len(pageKey) == 0 {
		pageKey = make([]byte, 32)
		_, _ = rand.Read(pageKey)
		log.Warn("INVOICEGW_PAGE_SECRET unset: hosted-page forms are signed with a per-process key; set it when running more than one instance")
	}
	// Tracking hits are written to a local log before the pixel is answered and
	// drained into Postgres in batches; whatever a previous run left undrained goes
	// in first.
	if cfg.HitLogSyncInterval < 0 {
		return fmt.Errorf("INVOICEGW_HIT_LOG_SYNC_INTERVAL: %s is negative (0 syncs before each answer)", cfg.HitLogSyncInterval)
	}
	hits, err := hitlog.Open(ctx, cfg.HitLogDir, postgres.NewHitStore(pool), hitlog.Options{Log: log,
		SyncInterval: cfg.HitLogSyncInterval, SyncEach: cfg.HitLogSyncInterval == 0})
	if err != nil {
		return fmt.Errorf("INVOICEGW_HIT_LOG_DIR: %w", err)
	}
	defer func() {
		// After the HTTP server has stopped: nothing appends any more.
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		if err := hits.Close(drainCtx); err != nil {
			log.Error("tracking hits left undrained", "err", err)
		}
	}()
	public, _ := url.Parse(cfg.PublicURL)

	deliverer := gateway.NewDeliverer(db, renderer, s3, tmpl, mailer.Builder{}, transport,
		gateway.DeliverConfig{MailFrom: cfg.MailFrom, PublicURL: cfg.PublicURL, BounceDomain: cfg.BounceDomain, Tracking: db}, time.Now, log)
	webhooks := gateway.NewWebhooks(db, stdwebhook.NewPoster(15*time.Second, cfg.WebhookAllowPrivate), time.Now, log)
	// INVOICEGW_WORKERS=0 makes an API-only instance: it accepts and enqueues, and the
	// instances with workers deliver (both kinds scale on their own).
	var queue *river.Client[pgx.Tx]
	if cfg.Workers > 0 {
		queue, err = jobs.NewClient(pool, deliverer, jobs.Config{Workers: cfg.Workers, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax,
			AttemptTimeout: cfg.AttemptTimeout, Webhooks: webhooks}, log)
		if err != nil {
			return err
		}
	}
	reports := gateway.NewReports(db, s3, cfg.BounceDomain, time.Now, log)
	providerVerifiers, err := cfg.ReportsConfig.providers()
	if err != nil {
		return err
	}
	proofDeps, err := wireProof(ctx, cfg.ProofConfig, db, s3, renderer, log)
	if err != nil {
		return err
	}
	if _, err := httpapi.OpenAPIDocument(); err != nil {
		return fmt.Errorf("openapi document: %w", err)
	}
	var limiter httpapi.RateLimiter
	if cfg.RateLimit > 0 {
		limiter = cache.NewRateLimiter(rdb, "invoicegw:", cfg.RateLimit)
	}
	tokens := cache.NewTokens(rdb, db, "invoicegw:", 10*time.Minute, log)
	collector, err := newCollector(cfg, db, s3, rdb, proofDeps, log)
	if err != nil {
		return err
	}
	tracker := gateway.NewTracker(gateway.TrackerDeps{
		Tokens: tokens, Store: db, Links: db, Settings: db, Hits: hits, Events: db,
		Queries: proofDeps.Disputes, Reports: db, Archive: s3, Classifier: classifier,
		CSRFKey: pageKey, Now: time.Now, Log: log,
	})
	handler := httpapi.NewServer(httpapi.Deps{
		Intake:      gateway.NewIntake(db, s3, public.Hostname(), time.Now, log),
		Tracker:     tracker,
		Deliveries:  gateway.NewDeliveries(db, settingsChecker{tmpl}, public.Hostname(), time.Now, log),
		Keys:        gateway.NewKeys(db, time.Now),
		RateLimit:   limiter,
		KeyCacheTTL: cfg.KeyCacheTTL,
		Auth:        db,
		Pages:       tmpl,
		Checks: []httpapi.Check{
			{Name: "postgres", Ping: db.Ping},
			{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
			{Name: "s3", Ping: s3.Ping},
		},
		Log:            log,
		BodyLimit:      cfg.BodyLimit,
		TrustedProxies: proxies,
		Collector: httpapi.CollectorDeps{Collector: collector, Pages: tmpl, PublicURL: cfg.PublicURL,
			MaxAge: cfg.CollectorSessionMax},
		ProofDeps: proofDeps,
		Reports:   reports,
		Webhooks:  webhooks,
		Providers: providerVerifiers,
	})

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("INVOICEGW_HTTP_ADDR: listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}

	stopInbound, err := startInbound(cfg, reports, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopInbound()
	if queue != nil {
		if err := queue.Start(ctx); err != nil {
			ln.Close()
			return fmt.Errorf("start delivery workers: %w", err)
		}
	} else {
		log.InfoContext(ctx, "API only (INVOICEGW_WORKERS=0): deliveries and webhooks are worked by the instances that have workers")
	}
	retentionCtx, stopRetention := context.WithCancel(ctx)
	defer stopRetention()
	go gateway.RunRetention(retentionCtx, db, cfg.RetentionInterval, time.Now, log)
	go forgetIdempotencyKeys(ctx, db, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.InfoContext(ctx, "invoicegw serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "workers", cfg.Workers)

	select {
	case err = <-served:
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		log.Error("http shutdown", "err", serr)
	}
	// Let running deliveries finish their SMTP conversation; a job cut off mid-send
	// would be flagged unknown_outcome on restart.
	if queue != nil {
		if qerr := queue.Stop(shutdownCtx); qerr != nil {
			log.Error("stop delivery workers", "err", qerr)
		}
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}
