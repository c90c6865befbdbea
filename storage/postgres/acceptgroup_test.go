package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
)

// Concurrent AcceptInvoice calls share transactions (group commit). Each must still
// get its own outcome, and a group must store exactly what separate calls would.
func TestConcurrentAcceptsShareTransactionsButKeepTheirOutcomes(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	other := newTenant(t, db)

	type call struct {
		r      *gateway.Record
		idem   *gateway.IdempotencyRecord
		replay *gateway.IdempotencyRecord
		err    error
	}
	var calls []*call
	// 100 distinct invoices, 10 posts of one number without a key, 10 posts with one
	// key, the same number in another tenant, and one invoice of a tenant that does
	// not exist (its row fails the foreign key: its group falls back to one
	// transaction per call and only it fails).
	for i := range 100 {
		calls = append(calls, &call{r: newRecord(t, ten.ID, fmt.Sprintf("G-%03d", i))})
	}
	for range 10 {
		calls = append(calls, &call{r: newRecord(t, ten.ID, "SAME-NUMBER")})
	}
	for range 10 {
		r := newRecord(t, ten.ID, "KEYED")
		calls = append(calls, &call{r: r, idem: &gateway.IdempotencyRecord{TenantID: ten.ID, Key: "one-key",
			RequestSHA256: r.PayloadSHA256, Status: 202, Response: []byte(`{}`), InvoiceID: r.ID}})
	}
	calls = append(calls, &call{r: newRecord(t, other.ID, "SAME-NUMBER")})
	ghost := &call{r: newRecord(t, "ten_does_not_exist", "GHOST-1")}
	calls = append(calls, ghost)

	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.replay, c.err = db.AcceptInvoice(ctx, c.r, accepted(c.r), c.idem) })
	}
	wg.Wait()

	stored := map[string]int{}
	var sameID string
	for _, c := range calls[:100] {
		if c.err != nil || c.replay != nil {
			t.Errorf("%s: replay %v, err %v; want stored", c.r.Invoice.Number, c.replay, c.err)
		}
	}
	for _, c := range calls[100:110] {
		switch {
		case c.err == nil:
			stored["SAME-NUMBER"]++
			sameID = c.r.ID
		case gateway.ErrorKind(c.err) != gateway.KindConflict:
			t.Errorf("same number: err = %v, want stored or conflict", c.err)
		}
	}
	for _, c := range calls[100:110] {
		var ge *gateway.Error
		if c.err != nil && (!errors.As(c.err, &ge) || ge.Detail["invoice_id"] != sameID) {
			t.Errorf("same number conflict %v does not name the stored invoice %s", c.err, sameID)
		}
	}
	for _, c := range calls[110:120] {
		switch {
		case c.err == nil && c.replay == nil:
			stored["KEYED"]++
		case c.err == nil && c.replay != nil:
		case gateway.ErrorKind(c.err) == gateway.KindIdempotencyInUse:
		default:
			t.Errorf("keyed: replay %v, err %v; want stored, replayed or in use", c.replay, c.err)
		}
	}
	if stored["SAME-NUMBER"] != 1 || stored["KEYED"] != 1 {
		t.Errorf("stored %v, want each number once", stored)
	}
	if c := calls[120]; c.err != nil {
		t.Errorf("the other tenant's SAME-NUMBER: %v, want stored", c.err)
	}
	if ghost.err == nil {
		t.Errorf("an invoice of a tenant that does not exist was stored")
	}

	for sql, want := range map[string]int{
		`SELECT count(*) FROM invoices`:                               103,
		`SELECT count(*) FROM deliveries`:                             103,
		`SELECT count(*) FROM events`:                                 103,
		`SELECT count(*) FROM event_chains`:                           103,
		`SELECT count(*) FROM river_job`:                              103,
		`SELECT count(*) FROM idempotency_keys WHERE key = 'one-key'`: 1,
	} {
		if got := count(t, pool, sql); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
	// Rows written by one transaction share xmin: fewer transactions than invoices
	// shows the calls were grouped.
	if txs := count(t, pool, `SELECT count(DISTINCT xmin::text) FROM invoices`); txs >= 103 {
		t.Errorf("%d transactions for 103 invoices: concurrent accepts were not grouped", txs)
	} else {
		t.Logf("103 invoices in %d transactions", txs)
	}
	// Every stored chain verifies: seq 1, no previous hash, the hash of its content.
	rows, err := pool.Query(ctx, `SELECT invoice_id, coalesce(delivery_id, ''), type, level, at, detail, seq, prev_hash, hash FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var e evidence.Event
		if err := rows.Scan(&e.InvoiceID, &e.DeliveryID, &e.Type, &e.Level, &e.At, &e.Detail, &e.Seq, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		e.At = e.At.UTC()
		if e.Detail, err = evidence.Canonical(e.Detail); err != nil {
			t.Fatal(err)
		}
		want, err := e.ComputeHash()
		if err != nil || e.Seq != 1 || e.PrevHash != "" || want != e.Hash {
			t.Errorf("event of %s: seq %d prev %q hash %s, want seq 1, no prev, hash %s (%v)", e.InvoiceID, e.Seq, e.PrevHash, e.Hash, want, err)
		}
	}
}

// A group whose transaction fails is tried again one invoice per transaction: only
// the invoice at fault fails.
func TestAGroupThatFailsFallsBackToOneTransactionEach(t *testing.T) {
	db, pool := newDB(t)
	ten := newTenant(t, db)
	var rs []*gateway.Record
	for i := range 5 {
		rs = append(rs, newRecord(t, ten.ID, fmt.Sprintf("F-%d", i)))
	}
	rs = append(rs[:2], append([]*gateway.Record{newRecord(t, "ten_does_not_exist", "GHOST-1")}, rs[2:]...)...)
	evs := make([][]gateway.Event, len(rs))
	for i, r := range rs {
		evs[i] = accepted(r)
	}
	errs := db.AcceptAsOneGroup(rs, evs)
	for i, err := range errs {
		if ghost := rs[i].TenantID == "ten_does_not_exist"; ghost != (err != nil) {
			t.Errorf("%s: err = %v", rs[i].Invoice.Number, err)
		}
	}
	if got := count(t, pool, `SELECT count(*) FROM invoices`); got != 5 {
		t.Errorf("invoices = %d, want the 5 good ones", got)
	}
}
