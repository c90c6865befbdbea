package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/hitlog"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// BenchmarkStoreHits is the drain's database side per pixel hit: batches the size a
// gateway drains every 50 ms at about 28,000 hits/s, all opens of one delivery (the
// pixel benchmark's load). It reports the PostgreSQL CPU of this benchmark's own
// backends per hit (postgres-mine-cpu-ms/op) and this process's (self).
func BenchmarkStoreHits(b *testing.B) {
	const batch = 1400
	db, pool, dbURL := newDBURL(b)
	ctx := context.Background()
	ten := newTenant(b, db)
	r := newRecord(b, ten.ID, "BENCH-HITS")
	if err := db.CreateInvoice(ctx, r, gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
		b.Fatal(err)
	}
	store := postgres.NewHitStore(pool)
	hits := make([]gateway.TrackHit, batch)
	for i := range hits {
		hits[i] = hitOn(r, "machine", time.Now())
		hits[i].UserAgent, hits[i].IPPrefix, hits[i].Reason = "", "127.0.0.0/24", "automated_client"
	}
	var pos hitlog.Pos
	b.ResetTimer()
	cpu := servicetest.ReadCPUOf(pgtest.Backends(b, dbURL, "postgres-mine"))
	for b.Loop() {
		for i := range hits {
			hits[i].At = time.Now()
		}
		pos.Offset++
		if err := store.StoreHits(ctx, "bench", hits, pos); err != nil {
			b.Fatal(err)
		}
	}
	cpu.SinceOf(pgtest.Backends(b, dbURL, "postgres-mine")).Report(b, b.N*batch)
}
