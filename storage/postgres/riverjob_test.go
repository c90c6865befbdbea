package postgres_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// The intake writes its delivery jobs with its own SQL (in the statement that stores
// the invoices), so the row must be the one River's InsertManyTx writes for the same
// job, or workers would run it differently (or not at all).
func TestDeliveryJobsAreTheRowsRiverWouldInsert(t *testing.T) {
	t.Parallel()
	db, pool := newDB(t) // delivery jobs get MaxAttempts 5
	ctx := context.Background()
	ten := newTenant(t, db)
	r := newRecord(t, ten.ID, "INV-RIVER")
	if err := db.CreateInvoice(ctx, r, gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
		t.Fatalf("create: %v", err)
	}
	queue, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := queue.InsertManyTx(ctx, tx, []river.InsertManyParams{{Args: gateway.DeliverJob{DeliveryID: r.Deliveries[0].ID},
			InsertOpts: &river.InsertOpts{MaxAttempts: 5}}})
		return err
	})
	if err != nil {
		t.Fatalf("insert with River: %v", err)
	}
	const columns = `args, kind, max_attempts, priority, queue, state, tags, metadata, unique_key, unique_states,
		attempt, attempted_at, attempted_by, errors, finalized_at`
	rows, err := pool.Query(ctx, `SELECT DISTINCT `+columns+` FROM river_job`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("the two jobs differ in some of (%s):\n%v", columns, got)
	}
	var gap time.Duration
	if err := pool.QueryRow(ctx, `SELECT max(scheduled_at) - min(scheduled_at) FROM river_job`).Scan(&gap); err != nil {
		t.Fatal(err)
	}
	if gap > 10*time.Second {
		t.Errorf("scheduled_at differ by %v, want both now", gap)
	}
}

func TestDeliveryJobsTakeAtMostTheAttemptsTheColumnHolds(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.MustOpen(t)
	db, err := postgres.New(pool, 100_000) // 1 s retries over 72 h, say
	if err != nil {
		t.Fatal(err)
	}
	ten := newTenant(t, db)
	r := newRecord(t, ten.ID, "INV-MANY")
	if err := db.CreateInvoice(context.Background(), r, gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := count(t, pool, `SELECT max_attempts FROM river_job`); got != math.MaxInt16 {
		t.Errorf("max_attempts = %d, want %d (River's clamp)", got, math.MaxInt16)
	}
}
