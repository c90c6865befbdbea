package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
)

// benchInvoices is the size of one tenant's book in the collector benchmarks: a
// large accounts-receivable ledger, seeded in SQL in a few seconds.
const benchInvoices = 100_000

// seedCollectorBench fills a fresh schema with one tenant's invoices (a third past
// due), a delivery each, and sent/opened events, half the opens by machines.
func seedCollectorBench(b *testing.B) *postgres.DB {
	b.Helper()
	pool, _ := pgtest.MustOpen(b)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO tenants (id, name) VALUES ('ten_bench', 'Bench')`,
		`INSERT INTO invoices (id, tenant_id, number, customer_id, currency, issue_date, due_date, document, totals,
			total, amount_due, terms, terms_sha256, payload_sha256, status)
		 SELECT 'inv_' || lpad(g::text, 26, '0'), 'ten_bench', 'INV-' || lpad(g::text, 7, '0'), 'CUST-' || (g % 5000),
			'EUR', date '2026-09-01', date '2026-09-01' + (g % 180),
			jsonb_build_object('customer', jsonb_build_object('id', 'CUST-' || (g % 5000), 'name', 'Customer ' || (g % 5000),
				'contact', jsonb_build_object('name', 'AP', 'email', 'ap' || (g % 5000) || '@customer.test'))),
			'{}', 100 + g % 900, 100 + g % 900, 'Net 30', '', '', 'sent'
		 FROM generate_series(1, $1::int) g`,
		`INSERT INTO deliveries (id, invoice_id, tenant_id, recipient_name, recipient_email, status, message_id)
		 SELECT 'dlv_' || substr(id, 5), id, tenant_id, 'AP', document #>> '{customer,contact,email}', 'sent', id
		 FROM invoices`,
		`INSERT INTO events (tenant_id, invoice_id, type, level, at, detail)
		 SELECT tenant_id, id, 'sent', 2, now(), '{}' FROM invoices`,
		`INSERT INTO events (tenant_id, invoice_id, type, level, at, detail)
		 SELECT tenant_id, id, 'opened', 4, now(),
			jsonb_build_object('classification', CASE WHEN right(id, 1) < '5' THEN 'machine' ELSE 'human' END)
		 FROM invoices WHERE right(id, 2) < '50'`,
		`ANALYZE`,
	} {
		var err error
		if q[0:6] == "INSERT" && len(q) > 200 && q[12:20] == "invoices" {
			_, err = pool.Exec(ctx, q, benchInvoices)
		} else {
			_, err = pool.Exec(ctx, q)
		}
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	db, err := postgres.New(pool, 1)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkCollectorWorklist: the "call first" list of one tenant with 100k invoices.
func BenchmarkCollectorWorklist(b *testing.B) {
	db := seedCollectorBench(b)
	today := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		rows, err := db.Worklist(context.Background(), "ten_bench", today, 100)
		if err != nil || len(rows) != 100 {
			b.Fatalf("worklist: %d rows, %v", len(rows), err)
		}
	}
}

// BenchmarkCollectorSearch: searches by number prefix, customer name, customer id
// and contact e-mail over the same 100k invoices.
func BenchmarkCollectorSearch(b *testing.B) {
	db := seedCollectorBench(b)
	today := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{"INV-0042000", "Customer 4711", "CUST-4711", "ap4711@customer.test"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				rows, err := db.SearchInvoices(context.Background(), "ten_bench", q, today, 50)
				if err != nil || len(rows) == 0 {
					b.Fatalf("search %q: %d rows, %v", q, len(rows), err)
				}
			}
		})
	}
}
