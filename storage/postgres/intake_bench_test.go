package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// BenchmarkAcceptInvoice measures what storing one accepted invoice costs the
// database, apart from HTTP and validation: the PostgreSQL CPU of this benchmark's
// own backends per invoice (postgres-mine-cpu-ms/op) and this process's.
func BenchmarkAcceptInvoice(b *testing.B) {
	db, _, dbURL := newDBURL(b)
	ctx := context.Background()
	ten := newTenant(b, db)
	n := 0
	records := func(count int) []*gateway.Record {
		rs := make([]*gateway.Record, count)
		for i := range rs {
			n++
			rs[i] = newRecord(b, ten.ID, fmt.Sprintf("BENCH-%d", n))
		}
		return rs
	}
	b.Run("single", func(b *testing.B) {
		rs := records(b.N)
		b.ResetTimer()
		cpu := servicetest.ReadCPUOf(pgtest.Backends(b, dbURL, "postgres-mine"))
		for i := range b.N {
			if _, err := db.AcceptInvoice(ctx, rs[i], accepted(rs[i]), nil); err != nil {
				b.Fatal(err)
			}
		}
		cpu.SinceOf(pgtest.Backends(b, dbURL, "postgres-mine")).Report(b, b.N)
	})
	b.Run("batch500", func(b *testing.B) {
		batches := make([][]*gateway.Record, b.N)
		events := make([][][]gateway.Event, b.N)
		for i := range batches {
			batches[i] = records(500)
			for _, r := range batches[i] {
				events[i] = append(events[i], accepted(r))
			}
		}
		b.ResetTimer()
		cpu := servicetest.ReadCPUOf(pgtest.Backends(b, dbURL, "postgres-mine"))
		for i := range b.N {
			if _, err := db.CreateInvoices(ctx, batches[i], events[i]); err != nil {
				b.Fatal(err)
			}
		}
		cpu.SinceOf(pgtest.Backends(b, dbURL, "postgres-mine")).Report(b, b.N*500)
	})
}
