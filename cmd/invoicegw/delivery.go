package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/mailer"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/templates"
)

// settingsChecker checks tenant delivery settings with the packages that use them.
type settingsChecker struct{ *templates.Templates }

func (settingsChecker) CheckDKIMKey(pem string) error {
	_, err := mailer.ParseDKIMKey(pem)
	return err
}

// DeliveryConfig is how invoices leave: the transport, the bounce domain and the
// archive's retention. Documented in the README's configuration table.
type DeliveryConfig struct {
	Transport    string        `env:"TRANSPORT" envDefault:"relay"`
	BounceDomain string        `env:"BOUNCE_DOMAIN"`
	DNSResolver  string        `env:"DNS_RESOLVER" envDefault:"127.0.0.53:53"`
	MXPort       int           `env:"MX_PORT" envDefault:"25"`
	SMTPPool     int           `env:"SMTP_POOL" envDefault:"4"`
	SMTPRate     float64       `env:"SMTP_RATE" envDefault:"0"`
	SMTPTimeout  time.Duration `env:"SMTP_TIMEOUT" envDefault:"30s"`
	S3LockMode   string        `env:"S3_LOCK_MODE"`
	S3Retention  time.Duration `env:"S3_RETENTION" envDefault:"87600h"`
	// AttemptTimeout bounds one delivery attempt; a job whose process died is taken
	// up again 30 s after it.
	AttemptTimeout time.Duration `env:"ATTEMPT_TIMEOUT" envDefault:"5m"`
}

// transport builds the Mailer the configuration names; errors name the variable.
func (c DeliveryConfig) transport(smtpURL string, log *slog.Logger) (gateway.Mailer, error) {
	if c.BounceDomain != "" && (strings.ContainsAny(c.BounceDomain, "@ /") || !strings.Contains(c.BounceDomain, ".")) {
		return nil, fmt.Errorf("configuration: INVOICEGW_BOUNCE_DOMAIN must be a domain name like bounces.example.com; got %q", c.BounceDomain)
	}
	switch c.S3LockMode {
	case "", "COMPLIANCE", "GOVERNANCE":
	default:
		return nil, fmt.Errorf("configuration: INVOICEGW_S3_LOCK_MODE must be COMPLIANCE or GOVERNANCE; got %q", c.S3LockMode)
	}
	if c.S3Retention <= 0 {
		return nil, fmt.Errorf("configuration: INVOICEGW_S3_RETENTION must be positive; got %s", c.S3Retention)
	}
	if c.AttemptTimeout < time.Second {
		return nil, fmt.Errorf("configuration: INVOICEGW_ATTEMPT_TIMEOUT must be at least 1s; got %s", c.AttemptTimeout)
	}
	if c.SMTPTimeout <= 0 {
		return nil, fmt.Errorf("configuration: INVOICEGW_SMTP_TIMEOUT must be positive; got %s", c.SMTPTimeout)
	}
	switch c.Transport {
	case "relay":
		if smtpURL == "" {
			return nil, fmt.Errorf("configuration: INVOICEGW_SMTP_URL is required with INVOICEGW_TRANSPORT=relay")
		}
		cfg, err := mailer.ParseURL(smtpURL)
		if err != nil {
			return nil, fmt.Errorf("configuration: INVOICEGW_SMTP_URL: %w", err)
		}
		if c.SMTPPool < 1 || c.SMTPPool > 100 {
			return nil, fmt.Errorf("configuration: INVOICEGW_SMTP_POOL must be between 1 and 100; got %d", c.SMTPPool)
		}
		if c.SMTPRate < 0 {
			return nil, fmt.Errorf("configuration: INVOICEGW_SMTP_RATE must be 0 (no limit) or positive; got %v", c.SMTPRate)
		}
		cfg.PoolSize, cfg.Rate, cfg.Timeout = c.SMTPPool, c.SMTPRate, c.SMTPTimeout
		return mailer.New(cfg, log), nil
	case "direct":
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			return nil, fmt.Errorf("configuration: INVOICEGW_DNS_RESOLVER must be host:port like 127.0.0.1:53; got %q", c.DNSResolver)
		}
		if c.MXPort < 1 || c.MXPort > 65535 {
			return nil, fmt.Errorf("configuration: INVOICEGW_MX_PORT must be between 1 and 65535; got %d", c.MXPort)
		}
		return mailer.NewDirect(mailer.DirectConfig{Resolver: c.DNSResolver, Port: c.MXPort, Timeout: c.SMTPTimeout}, log)
	default:
		return nil, fmt.Errorf("configuration: INVOICEGW_TRANSPORT must be relay or direct; got %q", c.Transport)
	}
}

// lock is the archive's Object Lock retention: applied where the bucket has Object
// Lock enabled.
func (c DeliveryConfig) lock() archive.Lock {
	return archive.Lock{Mode: c.S3LockMode, Retention: c.S3Retention}
}

// tenantDeliverySettings prints or replaces a tenant's delivery settings, validated
// exactly as PUT /v1/settings/delivery does.
func tenantDeliverySettings(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant delivery-settings", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenantID := fs.String("tenant", "", "the tenant's id (required)")
	set := fs.String("set", "", "a JSON file with the new settings; - reads stdin")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *tenantID == "" {
		return fmt.Errorf("tenant delivery-settings: --tenant is required")
	}
	db, closeDB, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	tmpl, err := templates.New()
	if err != nil {
		return err
	}
	svc := gateway.NewDeliveries(db, settingsChecker{tmpl}, "localhost", time.Now, slog.New(slog.DiscardHandler))
	var out gateway.DeliverySettings
	if *set == "" {
		out, err = svc.Settings(ctx, *tenantID)
	} else {
		var raw []byte
		if *set == "-" {
			raw, err = io.ReadAll(os.Stdin)
		} else {
			raw, err = os.ReadFile(*set)
		}
		if err != nil {
			return fmt.Errorf("tenant delivery-settings: read %s: %w", *set, err)
		}
		var in gateway.DeliverySettings
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return fmt.Errorf("tenant delivery-settings: %s is not delivery settings JSON: %w", *set, err)
		}
		out, err = svc.SetSettings(ctx, *tenantID, in)
	}
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) && len(ge.Fields) > 0 {
			for _, f := range ge.Fields {
				fmt.Fprintf(stderr, "%s: %s\n", f.Field, f.Message)
			}
		}
		return fmt.Errorf("tenant delivery-settings: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
