package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres"
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// benchSeed fills a dedicated schema with the proof benchmark's data (see
// postgres.SeedProofBench) and prints the API key that reads it. It never touches
// the schema the gateway runs on.
func benchSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schema := fs.String("schema", "bench_proof", "schema to fill (created if missing; never the default one)")
	invoices := fs.Int("invoices", 1_000_000, "number of invoices")
	eventsPer := fs.Int("events-per-invoice", 10, "events per invoice")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if !schemaName.MatchString(*schema) || *schema == "public" {
		return fmt.Errorf("bench-seed: --schema must be a plain lower-case name other than public; got %q", *schema)
	}
	if *invoices < 1 || *eventsPer < 1 {
		return fmt.Errorf("bench-seed: --invoices and --events-per-invoice must be positive")
	}
	admin, err := openDB(ctx, getenv)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+*schema); err != nil {
		return fmt.Errorf("bench-seed: create schema: %w", err)
	}
	u, err := url.Parse(getenv("INVOICEGW_DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("INVOICEGW_DATABASE_URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", *schema)
	u.RawQuery = q.Encode()
	pool, err := postgres.Open(ctx, u.String())
	if err != nil {
		return fmt.Errorf("INVOICEGW_DATABASE_URL: %w", err)
	}
	defer pool.Close()

	var ex struct{ Invoice json.RawMessage }
	ex.Invoice = json.RawMessage(benchInvoice)
	inv, err := gateway.DecodeInvoice(ex.Invoice)
	if err != nil {
		return fmt.Errorf("bench-seed: example invoice: %w", err)
	}
	totals, err := inv.Validate()
	if err != nil {
		return fmt.Errorf("bench-seed: example invoice: %w", err)
	}
	doc, _ := json.Marshal(inv)
	tot, _ := json.Marshal(totals)
	key, hash, err := gateway.NewAPIKey()
	if err != nil {
		return err
	}
	key, err = postgres.SeedProofBench(ctx, pool, postgres.ProofBenchSeed{
		Invoices: *invoices, EventsPer: *eventsPer, TenantID: "ten_bench", KeyHash: hash, APIKey: key,
		Document: doc, Totals: tot, Total: totals.Total, DeliveryStatus: string(gateway.StatusDelivered),
	}, newLogger(stdout, "info"))
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"schema": *schema, "tenant_id": "ten_bench", "api_key": key})
}

// benchInvoice is the document every seeded invoice shares.
const benchInvoice = `{
  "number": "B-1", "issue_date": "2026-11-23", "due_date": "2026-12-23", "currency": "EUR",
  "seller": {"name": "Acme Supplies GmbH", "email": "billing@acme.test",
    "address": {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
  "customer": {"id": "C-1", "name": "Globex Ltd",
    "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
    "contact": {"name": "Jane Doe", "email": "jane.doe@globex.test"}},
  "lines": [{"description": "Widget", "quantity": "3", "unit_price": "19.99", "tax_rate": "19"}],
  "terms": "Net 30"
}`
