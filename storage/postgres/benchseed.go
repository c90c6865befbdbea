package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ProofBenchSeed describes the synthetic data of the proof lookup benchmark.
type ProofBenchSeed struct {
	Invoices       int    // e.g. 1,000,000
	EventsPer      int    // events per invoice, e.g. 10 (10,000,000 in all)
	TenantID       string // the one tenant owning everything
	KeyHash        []byte // its API key's hash
	APIKey         string // kept in the schema so the benchmark can authenticate
	Document       []byte // the invoice JSON every row shares
	Totals         []byte
	Total          string
	DeliveryStatus string
}

// SeedProofBench fills the pool's schema (a dedicated one: see the benchmark) with
// seed.Invoices invoices of seed.EventsPer events each, generated in SQL with
// generate_series. A schema already seeded with the same sizes is left alone and
// its API key returned, so the benchmark can be re-run without a long reload.
func SeedProofBench(ctx context.Context, pool *pgxpool.Pool, seed ProofBenchSeed, log *slog.Logger) (apiKey string, err error) {
	var key string
	err = pool.QueryRow(ctx, `SELECT api_key FROM bench_proof_meta WHERE invoices = $1 AND events_per = $2`,
		seed.Invoices, seed.EventsPer).Scan(&key)
	if err == nil {
		log.InfoContext(ctx, "bench schema already seeded", "invoices", seed.Invoices, "events_per", seed.EventsPer)
		// Migrations that landed since the seed still apply, so the queries match.
		return key, Migrate(ctx, pool, log)
	}
	if !errors.Is(err, pgx.ErrNoRows) && !isUndefinedTable(err) {
		return "", fmt.Errorf("check bench seed: %w", err)
	}
	if err := Migrate(ctx, pool, log); err != nil {
		return "", err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	defer conn.Release()
	step := func(name, sql string, args ...any) error {
		start := time.Now()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
		log.InfoContext(ctx, "bench seed step", "step", name, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	// Bulk-load settings for this session only: no foreign-key triggers (every
	// reference is generated consistent), no waiting for the WAL flush, bigger sorts
	// for the index builds.
	steps := []struct {
		name, sql string
		args      []any
	}{
		{"session", `SET session_replication_role = replica; SET synchronous_commit = off; SET maintenance_work_mem = '512MB'`, nil},
		{"truncate", `TRUNCATE events, event_chains, disputes, deliveries, invoices, api_keys, tenants CASCADE`, nil},
		{"drop event index", `DROP INDEX IF EXISTS events_invoice_seq`, nil},
		{"tenant", `INSERT INTO tenants (id, name) VALUES ($1, 'Bench tenant')`, []any{seed.TenantID}},
		{"api key", `INSERT INTO api_keys (id, tenant_id, key_hash) VALUES ('key_bench', $1, $2)`, []any{seed.TenantID, seed.KeyHash}},
		{"invoices", `
			INSERT INTO invoices (id, tenant_id, number, customer_id, currency, issue_date, due_date, document, totals,
				total, amount_due, terms, terms_sha256, payload_sha256, status, pdf_key, pdf_sha256, pdf_size, created_at, updated_at)
			SELECT 'inv_' || lpad(i::text, 26, '0'), $1, 'B-' || i, 'C-' || (i % 5000), 'EUR', date '2026-11-23', date '2026-12-23',
				$2::jsonb, $3::jsonb, $4::numeric, $4::numeric, 'Net 30', repeat('a', 64), repeat('b', 64), $5,
				'tenants/' || $1 || '/invoices/inv_' || lpad(i::text, 26, '0') || '/invoice.pdf', repeat('c', 64), 48213,
				timestamptz '2026-11-23 10:00:00+00' + (i || ' seconds')::interval, timestamptz '2026-11-23 10:00:00+00'
			FROM generate_series(1, $6::int) AS i`,
			[]any{seed.TenantID, seed.Document, seed.Totals, seed.Total, seed.DeliveryStatus, seed.Invoices}},
		{"deliveries", `
			INSERT INTO deliveries (id, invoice_id, tenant_id, recipient_name, recipient_email, status, attempts, message_id, last_reply, sent_at, updated_at)
			SELECT 'dlv_' || lpad(i::text, 26, '0'), 'inv_' || lpad(i::text, 26, '0'), $1, 'Jane Doe', 'jane' || (i % 5000) || '@globex.test',
				$2, 1, 'dlv_' || i || '@bench.test', '2.0.0 Ok: queued as ' || upper(to_hex(i)),
				timestamptz '2026-11-23 10:02:33+00', timestamptz '2026-11-23 10:02:33+00'
			FROM generate_series(1, $3::int) AS i`, []any{seed.TenantID, seed.DeliveryStatus, seed.Invoices}},
		// A realistic ladder per invoice: accepted, rendered, archived, sent, delivered,
		// then opens (one by a privacy proxy), views and a confirmation. Hashes are
		// placeholders with the real shape (the chain is not recomputed here).
		{"events", `
			INSERT INTO events (tenant_id, invoice_id, delivery_id, type, level, at, detail, seq, prev_hash, hash)
			SELECT $1, 'inv_' || lpad(i::text, 26, '0'),
				CASE WHEN s <= 3 THEN NULL ELSE 'dlv_' || lpad(i::text, 26, '0') END,
				t.type, t.level, timestamptz '2026-11-23 10:00:00+00' + (s * 97 || ' seconds')::interval,
				t.detail::jsonb, s,
				CASE WHEN s = 1 THEN '' ELSE md5(i::text || '-' || (s - 1)) || md5((s - 1)::text || '-' || i) END,
				md5(i::text || '-' || s) || md5(s::text || '-' || i)
			FROM generate_series(1, $2::int) AS i
			CROSS JOIN generate_series(1, $3::int) AS s
			JOIN (VALUES
				(1, 'accepted', 0, '{"payload_sha256":"bbbb","number":"B","total":"71.36","currency":"EUR"}'),
				(2, 'rendered', 1, '{"sha256":"cccc","size":48213,"content_type":"application/pdf"}'),
				(3, 'archived', 1, '{"key":"invoice.pdf","sha256":"cccc","size":48213}'),
				(4, 'sent', 2, '{"reply":"2.0.0 Ok: queued as 4XyZ","relay":"smtp.bench.test:587"}'),
				(5, 'delivered', 3, '{"mx":"mx.globex.test","reply":"250 2.0.0 Ok: queued as 4XyZ","source":"mx"}'),
				(6, 'opened', 4, '{"classification":"machine","reason":"apple_mpp","method":"GET"}'),
				(7, 'opened', 4, '{"classification":"human","reason":"browser","method":"GET"}'),
				(8, 'clicked', 5, '{"classification":"human","reason":"browser","method":"GET"}'),
				(9, 'viewed', 5, '{"classification":"human","reason":"browser","method":"GET"}'),
				(10, 'acknowledged', 6, '{"name":"Jane Doe","classification":"human"}')
			) AS t(n, type, level, detail) ON t.n = 1 + (s - 1) % 10`, []any{seed.TenantID, seed.Invoices, seed.EventsPer}},
		{"event index", `CREATE UNIQUE INDEX events_invoice_seq ON events (invoice_id, seq)`, nil},
		{"chain heads", `
			INSERT INTO event_chains (invoice_id, seq, head, checkpointed_seq)
			SELECT 'inv_' || lpad(i::text, 26, '0'), $2::int, md5(i::text || '-' || $2::int) || md5($2::int || '-' || i), 0
			FROM generate_series(1, $1::int) AS i`, []any{seed.Invoices, seed.EventsPer}},
		{"analyze", `ANALYZE`, nil},
		{"meta", `CREATE TABLE IF NOT EXISTS bench_proof_meta (invoices int, events_per int, api_key text, seeded_at timestamptz DEFAULT now());
			DELETE FROM bench_proof_meta`, nil},
		{"meta row", `INSERT INTO bench_proof_meta (invoices, events_per, api_key) VALUES ($1, $2, $3)`, []any{seed.Invoices, seed.EventsPer, seed.APIKey}},
	}
	for _, s := range steps {
		if err := step(s.name, s.sql, s.args...); err != nil {
			return "", err
		}
	}
	return seed.APIKey, nil
}

func isUndefinedTable(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == "42P01"
}
