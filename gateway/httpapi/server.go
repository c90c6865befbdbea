package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Authenticator finds the tenant an API key belongs to.
type Authenticator interface {
	// TenantByKeyHash returns the tenant of a live key. Errors: KindNotFound, KindUnavailable.
	TenantByKeyHash(ctx context.Context, hash []byte) (gateway.Tenant, error)
}

// Pages renders the recipient-facing HTML.
type Pages interface {
	Page(w io.Writer, d gateway.PageData) error
	NotFound(w io.Writer) error
}

// Check is one dependency /readyz asks.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps is everything the HTTP layer calls.
type Deps struct {
	Intake         *gateway.Intake
	Keys           *gateway.Keys
	RateLimit      RateLimiter   // nil: no rate limit
	KeyCacheTTL    time.Duration // how long a key look-up is reused; revocation takes effect within it
	Tracker        *gateway.Tracker
	Deliveries     *gateway.Deliveries
	Auth           Authenticator
	Pages          Pages
	Checks         []Check
	Log            *slog.Logger
	BodyLimit      string         // e.g. "10M"
	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For is believed
	Collector      CollectorDeps  // the collector workspace under /c; off when Collector.Collector is nil
	ProofDeps                     // proof, bundle, signing key and disputes
	Reports        *gateway.Reports
	Webhooks       *gateway.Webhooks
	Providers      Providers
}

// NewServer returns the gateway's HTTP handler.
func NewServer(d Deps) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = problemHandler(d.Log)
	e.IPExtractor = ipExtractor(d.TrustedProxies)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: false, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		d.Log.ErrorContext(c.Request().Context(), "panic in handler", "err", err, "route", c.Path(), "stack", string(stack))
		return err
	}}))
	e.Use(requestLog(d.Log))
	addRoutes(e, d)
	return e
}

// ipExtractor believes X-Forwarded-For only from configured proxies; anyone else
// could forge it.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// requestLog logs one line per request with the route pattern, never the raw path:
// tracking paths carry tokens that must not end up in logs.
func requestLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			// Checked first: building the attributes costs allocations on every
			// pixel even when debug logging is off.
			if ctx := c.Request().Context(); log.Enabled(ctx, slog.LevelDebug) {
				log.DebugContext(ctx, "http request", "method", c.Request().Method, "route", c.Path(),
					"status", c.Response().Status, "duration", time.Since(start))
			}
			return nil
		}
	}
}
