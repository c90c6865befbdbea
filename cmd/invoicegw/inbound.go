package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/tracking/inbound"
	"github.com/invoicegw/invoicegw/tracking/providers"
)

// ReportsConfig is the configuration of delivery reports in (SMTP listener,
// provider webhooks) and webhooks out. Documented in the README's configuration table.
type ReportsConfig struct {
	InboundSMTPAddr   string   `env:"INBOUND_SMTP_ADDR"`
	InboundMaxBytes   string   `env:"INBOUND_MAX_BYTES" envDefault:"10M"`
	SNSCertHosts      []string `env:"SNS_CERT_HOSTS" envSeparator:"," envDefault:"sns.*.amazonaws.com"`
	PostmarkUser      string   `env:"POSTMARK_WEBHOOK_USER"`
	PostmarkPassword  string   `env:"POSTMARK_WEBHOOK_PASSWORD"`
	PostmarkToken     string   `env:"POSTMARK_WEBHOOK_TOKEN"`
	MailgunSigningKey string   `env:"MAILGUN_SIGNING_KEY"`
	SendGridPublicKey string   `env:"SENDGRID_PUBLIC_KEY"`
	// WebhookAllowPrivate lets webhook endpoints be on private networks (an
	// accounting system on the same LAN); off, tenants cannot aim the gateway inward.
	WebhookAllowPrivate bool `env:"WEBHOOK_ALLOW_PRIVATE" envDefault:"false"`
}

// validate checks the tracking configuration, naming the variable.
func (c *ReportsConfig) validate(bounceDomain string) error {
	if c.InboundSMTPAddr != "" && bounceDomain == "" {
		return fmt.Errorf("configuration: INVOICEGW_INBOUND_SMTP_ADDR needs INVOICEGW_BOUNCE_DOMAIN, the domain reports are addressed to")
	}
	if _, err := parseBytes(c.InboundMaxBytes); err != nil {
		return fmt.Errorf("configuration: INVOICEGW_INBOUND_MAX_BYTES: %w", err)
	}
	for _, h := range c.SNSCertHosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/:") {
			return fmt.Errorf("configuration: INVOICEGW_SNS_CERT_HOSTS must be comma-separated host names (a * matches one label), like sns.*.amazonaws.com; got %q", h)
		}
	}
	if (c.PostmarkUser == "") != (c.PostmarkPassword == "") {
		return fmt.Errorf("configuration: INVOICEGW_POSTMARK_WEBHOOK_USER and INVOICEGW_POSTMARK_WEBHOOK_PASSWORD go together")
	}
	if c.SendGridPublicKey != "" {
		if _, err := providers.NewSendGrid(c.SendGridPublicKey); err != nil {
			return fmt.Errorf("configuration: INVOICEGW_SENDGRID_PUBLIC_KEY: %w", err)
		}
	}
	return nil
}

// startInbound runs the SMTP listener for delivery reports when it is configured;
// the returned function stops it (a no-op when it is not).
func startInbound(cfg serveConfig, reports *gateway.Reports, log *slog.Logger) (func() error, error) {
	if cfg.InboundSMTPAddr == "" {
		return func() error { return nil }, nil
	}
	max, _ := parseBytes(cfg.InboundMaxBytes) // validated
	srv, err := inbound.Start(inbound.Config{Addr: cfg.InboundSMTPAddr, Domain: cfg.BounceDomain, MaxBytes: max},
		inbound.HandlerFunc(func(ctx context.Context, env inbound.Envelope, raw []byte) error {
			return reports.ReceiveMail(ctx, gateway.ReportEnvelope(env), raw)
		}), log)
	if err != nil {
		return nil, fmt.Errorf("INVOICEGW_INBOUND_SMTP_ADDR: %w", err)
	}
	log.Info("inbound smtp listening", "addr", srv.Addr(), "bounce_domain", cfg.BounceDomain)
	return srv.Close, nil
}

func reportsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprint(stderr, "usage: invoicegw reports list [--all] [--limit N]\n")
		return errUsage
	}
	fs := flag.NewFlagSet("reports list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "also list reports that were recorded on a delivery")
	limit := fs.Int("limit", 100, "most reports to list, newest first")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	db, closeDB, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	reps, err := db.Reports(ctx, postgres.ReportFilter{All: *all, Limit: *limit})
	if err != nil {
		return fmt.Errorf("list reports: %w", err)
	}
	// One JSON object per line: readable, and greppable with jq.
	enc := json.NewEncoder(stdout)
	for _, r := range reps {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// providers builds the verifiers of the provider webhooks that are configured. SES
// is always on: SNS messages verify against Amazon's certificates alone.
func (c *ReportsConfig) providers() (httpapi.Providers, error) {
	p := httpapi.Providers{SNS: providers.NewSNS(c.SNSCertHosts, nil)}
	if c.PostmarkUser != "" || c.PostmarkToken != "" {
		p.Postmark = &providers.Postmark{User: c.PostmarkUser, Password: c.PostmarkPassword, Token: c.PostmarkToken}
	}
	if c.MailgunSigningKey != "" {
		p.Mailgun = &providers.Mailgun{SigningKey: c.MailgunSigningKey}
	}
	if c.SendGridPublicKey != "" {
		sg, err := providers.NewSendGrid(c.SendGridPublicKey)
		if err != nil {
			return p, fmt.Errorf("configuration: INVOICEGW_SENDGRID_PUBLIC_KEY: %w", err)
		}
		p.SendGrid = sg
	}
	return p, nil
}
