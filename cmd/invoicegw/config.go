package main

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// envPrefix starts every configuration variable.
const envPrefix = "INVOICEGW_"

type DBConfig struct {
	DatabaseURL string `env:"DATABASE_URL,required"`
}

type S3Config struct {
	S3Endpoint  string `env:"S3_ENDPOINT,required"`
	S3Region    string `env:"S3_REGION" envDefault:"us-east-1"`
	S3Bucket    string `env:"S3_BUCKET,required"`
	S3AccessKey string `env:"S3_ACCESS_KEY,required"`
	S3SecretKey string `env:"S3_SECRET_KEY,required"`
}

// serveConfig is everything `serve` needs. Each field is documented in the README's
// configuration table; keep the two in step.
type serveConfig struct {
	DBConfig
	S3Config
	ProofConfig
	HTTPAddr       string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	PublicURL      string        `env:"PUBLIC_URL,required"`
	RedisURL       string        `env:"REDIS_URL,required"`
	SMTPURL        string        `env:"SMTP_URL"`
	MailFrom       string        `env:"MAIL_FROM,required"`
	LogLevel       string        `env:"LOG_LEVEL" envDefault:"info"`
	Workers        int           `env:"WORKERS" envDefault:"10"`
	BodyLimit      string        `env:"BODY_LIMIT" envDefault:"10M"`
	TrustedProxies []string      `env:"TRUSTED_PROXIES" envSeparator:","`
	RetryBase      time.Duration `env:"RETRY_BASE" envDefault:"1m"`
	RetryMax       time.Duration `env:"RETRY_MAX" envDefault:"1h"`
	RetryHorizon   time.Duration `env:"RETRY_HORIZON" envDefault:"72h"`
	DeliveryConfig
	RateLimit   int           `env:"RATE_LIMIT" envDefault:"100"`
	KeyCacheTTL time.Duration `env:"KEY_CACHE_TTL" envDefault:"5s"`
	CollectorConfig
	TrackingConfig
	ReportsConfig
}

// CollectorConfig bounds collector sessions and sign-in attempts.
type CollectorConfig struct {
	CollectorIdleTimeout     time.Duration `env:"COLLECTOR_IDLE_TIMEOUT" envDefault:"30m"`
	CollectorSessionMax      time.Duration `env:"COLLECTOR_SESSION_MAX" envDefault:"12h"`
	CollectorLoginPerAccount int64         `env:"COLLECTOR_LOGIN_PER_ACCOUNT" envDefault:"5"`
	CollectorLoginPerIP      int64         `env:"COLLECTOR_LOGIN_PER_IP" envDefault:"50"`
}

// TrackingConfig configures the tracking endpoints and the hosted page.
type TrackingConfig struct {
	// TrackingDataDir may hold signatures.txt and ranges.txt replacing the embedded ones.
	TrackingDataDir string `env:"TRACKING_DATA_DIR"`
	// PageSecret signs hosted-page forms; shared by all instances. Random per process
	// when unset (fine for one instance).
	PageSecret string `env:"PAGE_SECRET"`
	// RetentionInterval is how often raw hits past retention are deleted.
	RetentionInterval time.Duration `env:"RETENTION_INTERVAL" envDefault:"1h"`
	// HitLogDir holds the durable local log of tracking hits (storage/hitlog); one
	// gateway process per directory.
	HitLogDir string `env:"HIT_LOG_DIR" envDefault:"data/hitlog"`
	// HitLogSyncInterval is how often the hit log is fdatasynced: a hit is answered
	// once it is in the page cache (safe from the process ending), and a crash of the
	// machine can lose the hits of the last interval. 0: each hit waits for an
	// fdatasync before it is answered.
	HitLogSyncInterval time.Duration `env:"HIT_LOG_SYNC_INTERVAL" envDefault:"100ms"`
}

// parseEnv fills cfg from INVOICEGW_* variables read through getenv (tests pass
// their own); errors name the variable.
func parseEnv(cfg any, getenv func(string) string) error {
	opts := env.Options{Prefix: envPrefix}
	params, err := env.GetFieldParamsWithOptions(cfg, opts)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	opts.Environment = map[string]string{}
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			opts.Environment[p.Key] = v
		}
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// validate checks what the types alone cannot, naming the variable.
func (c *serveConfig) validate() (proxies []netip.Prefix, err error) {
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("configuration: INVOICEGW_PUBLIC_URL must be an absolute http(s) URL without a path, like https://invoices.example.com; got %q", c.PublicURL)
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if a, err := mail.ParseAddress(c.MailFrom); err != nil || a.Address != c.MailFrom {
		return nil, fmt.Errorf("configuration: INVOICEGW_MAIL_FROM must be a bare e-mail address like invoices@example.com; got %q", c.MailFrom)
	}
	if c.Workers < 0 || c.Workers > 1000 {
		return nil, fmt.Errorf("configuration: INVOICEGW_WORKERS must be between 0 (API only) and 1000; got %d", c.Workers)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("configuration: INVOICEGW_LOG_LEVEL must be debug, info, warn or error; got %q", c.LogLevel)
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase || c.RetryHorizon < c.RetryBase {
		return nil, fmt.Errorf("configuration: INVOICEGW_RETRY_BASE must be positive and at most INVOICEGW_RETRY_MAX and INVOICEGW_RETRY_HORIZON")
	}
	if c.CollectorIdleTimeout <= 0 || c.CollectorSessionMax < c.CollectorIdleTimeout {
		return nil, fmt.Errorf("configuration: INVOICEGW_COLLECTOR_IDLE_TIMEOUT must be positive and at most INVOICEGW_COLLECTOR_SESSION_MAX")
	}
	if c.CollectorLoginPerAccount < 1 || c.CollectorLoginPerIP < 1 {
		return nil, fmt.Errorf("configuration: INVOICEGW_COLLECTOR_LOGIN_PER_ACCOUNT and INVOICEGW_COLLECTOR_LOGIN_PER_IP must be at least 1")
	}
	if c.RateLimit < 0 {
		return nil, fmt.Errorf("configuration: INVOICEGW_RATE_LIMIT must be requests per second per API key, 0 for none; got %d", c.RateLimit)
	}
	if c.KeyCacheTTL < 0 || c.KeyCacheTTL > time.Minute {
		return nil, fmt.Errorf("configuration: INVOICEGW_KEY_CACHE_TTL must be between 0 and 1m (revoked keys work until it passes); got %s", c.KeyCacheTTL)
	}
	if _, err := c.ProofConfig.signer(); err != nil {
		return nil, err
	}
	if c.PageSecret != "" && len(c.PageSecret) < 32 {
		return nil, fmt.Errorf("configuration: INVOICEGW_PAGE_SECRET must be at least 32 characters (e.g. openssl rand -hex 32)")
	}
	if c.RetentionInterval <= 0 {
		return nil, fmt.Errorf("configuration: INVOICEGW_RETENTION_INTERVAL must be positive; got %s", c.RetentionInterval)
	}
	if _, err := parseBytes(c.BodyLimit); err != nil {
		return nil, fmt.Errorf("configuration: INVOICEGW_BODY_LIMIT: %w", err)
	}
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("configuration: INVOICEGW_TRUSTED_PROXIES must be comma-separated CIDR prefixes like 10.0.0.0/8; got %q", s)
		}
		proxies = append(proxies, p)
	}
	return proxies, nil
}

// parseBytes accepts sizes like "10M", "512K" or "1G" (the syntax Echo's BodyLimit uses).
func parseBytes(s string) (int64, error) {
	units := map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
	if len(s) < 2 {
		return 0, fmt.Errorf("want a size like 10M, got %q", s)
	}
	mult, ok := units[strings.ToUpper(s[len(s)-1:])]
	var n int64
	if _, err := fmt.Sscan(s[:len(s)-1], &n); !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size like 10M, got %q", s)
	}
	return n * mult, nil
}
