package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

func accepted(r *gateway.Record) []gateway.Event {
	return []gateway.Event{gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), nil)}
}

func TestAcceptInvoiceWritesTheIdempotencyKeyInTheSameTransaction(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := newRecord(t, ten.ID, "IDEM-1")
	idem := &gateway.IdempotencyRecord{TenantID: ten.ID, Key: "k1", RequestSHA256: "aa", Status: 202, Response: []byte(`{"id":"x"}`), InvoiceID: r.ID}
	if replay, err := db.AcceptInvoice(ctx, r, accepted(r), idem); err != nil || replay != nil {
		t.Fatalf("first AcceptInvoice = %v, %v; want stored", replay, err)
	}
	// A retry with a new record (new id, same number) replays and writes nothing.
	r2 := newRecord(t, ten.ID, "IDEM-1")
	replay, err := db.AcceptInvoice(ctx, r2, accepted(r2), &gateway.IdempotencyRecord{TenantID: ten.ID, Key: "k1", RequestSHA256: "aa", Status: 202, Response: []byte(`{}`), InvoiceID: r2.ID})
	if err != nil || replay == nil || string(replay.Response) != `{"id":"x"}` || replay.InvoiceID != r.ID {
		t.Fatalf("retry = %+v, %v; want the first answer replayed", replay, err)
	}
	if got := count(t, pool, `SELECT count(*) FROM invoices`); got != 1 {
		t.Errorf("invoices = %d, want 1", got)
	}
	// The same key in another tenant is another key.
	other := newTenant(t, db)
	r3 := newRecord(t, other.ID, "IDEM-1")
	if replay, err := db.AcceptInvoice(ctx, r3, accepted(r3), &gateway.IdempotencyRecord{TenantID: other.ID, Key: "k1", RequestSHA256: "bb", Status: 202, Response: []byte(`{}`), InvoiceID: r3.ID}); err != nil || replay != nil {
		t.Errorf("other tenant = %v, %v; want stored", replay, err)
	}
	// A failed insert (duplicate number) stores no key.
	r4 := newRecord(t, ten.ID, "IDEM-1")
	_, err = db.AcceptInvoice(ctx, r4, accepted(r4), &gateway.IdempotencyRecord{TenantID: ten.ID, Key: "k2", RequestSHA256: "cc", Status: 202, Response: []byte(`{}`), InvoiceID: r4.ID})
	if gateway.ErrorKind(err) != gateway.KindConflict {
		t.Errorf("duplicate number with a new key: err = %v, want conflict", err)
	}
	if got := count(t, pool, `SELECT count(*) FROM idempotency_keys WHERE key = 'k2'`); got != 0 {
		t.Errorf("a refused request stored its key")
	}
}

func TestAcceptInvoiceRefusesAKeyInUse(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRecord(t, ten.ID, "RACE-1")
			_, errs[i] = db.AcceptInvoice(ctx, r, accepted(r), &gateway.IdempotencyRecord{TenantID: ten.ID, Key: "race", RequestSHA256: "aa", Status: 202, Response: []byte(`{}`), InvoiceID: r.ID})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch gateway.ErrorKind(err) {
		case gateway.KindIdempotencyInUse, gateway.KindConflict:
		default:
			if err != nil {
				t.Errorf("err = %v, want nil, in-use or conflict", err)
			}
		}
		if err == nil {
			ok++
		}
	}
	if ok < 1 {
		t.Errorf("no request succeeded")
	}
}

func TestCreateInvoicesReportsTakenNumbers(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	first := newRecord(t, ten.ID, "B-1")
	if err := db.CreateInvoice(ctx, first, accepted(first)[0]); err != nil {
		t.Fatal(err)
	}
	rs := []*gateway.Record{newRecord(t, ten.ID, "B-1"), newRecord(t, ten.ID, "B-2"), newRecord(t, ten.ID, "B-3")}
	evs := [][]gateway.Event{accepted(rs[0]), accepted(rs[1]), accepted(rs[2])}
	existing, err := db.CreateInvoices(ctx, rs, evs)
	if err != nil {
		t.Fatal(err)
	}
	if existing[0].ID != first.ID || existing[0].PayloadSHA256 != first.PayloadSHA256 || existing[1].ID != "" || existing[2].ID != "" {
		t.Errorf("existing = %+v, want only B-1 taken by %s", existing, first.ID)
	}
	for sql, want := range map[string]int{
		`SELECT count(*) FROM invoices`:   3,
		`SELECT count(*) FROM deliveries`: 3,
		`SELECT count(*) FROM events`:     3,
		`SELECT count(*) FROM river_job`:  3,
	} {
		if got := count(t, pool, sql); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
}

func TestCurrentTermsPrefersTheCustomerThenTheNewestVersion(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	add := func(customer, text string) gateway.TermsVersion {
		v, err := gateway.NewTermsVersion(ten.ID, customer, text, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddTermsVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	add("", "tenant v1")
	tv2 := add("", "tenant v2")
	cv := add("C-1", "customer")
	tests := []struct {
		name     string
		customer string
		fallback bool
		want     string
	}{
		{"gives the customer's own terms", "C-1", true, cv.ID},
		{"falls back to the newest tenant version", "C-2", true, tv2.ID},
		{"gives the tenant's newest version", "", false, tv2.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.CurrentTerms(ctx, ten.ID, tc.customer, tc.fallback)
			if err != nil || got.ID != tc.want {
				t.Errorf("CurrentTerms = %s, %v; want %s", got.ID, err, tc.want)
			}
		})
	}
	t.Run("has nothing for an unknown customer without fallback", func(t *testing.T) {
		if _, err := db.CurrentTerms(ctx, ten.ID, "C-2", false); gateway.ErrorKind(err) != gateway.KindNotFound {
			t.Errorf("err = %v, want not found", err)
		}
	})
}

func TestAPIKeysAreTenantScoped(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	a, b := newTenant(t, db), newTenant(t, db)
	keys := gateway.NewKeys(db, time.Now)
	k, secret, err := keys.Create(ctx, a.ID, "erp")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := gateway.HashAPIKey(secret)
	if err != nil {
		t.Fatalf("a new key fails its own checksum: %v", err)
	}
	if got, err := db.TenantByKeyHash(ctx, hash); err != nil || got.ID != a.ID {
		t.Fatalf("TenantByKeyHash = %v, %v; want %s", got.ID, err, a.ID)
	}
	if _, err := keys.Revoke(ctx, b.ID, k.ID); gateway.ErrorKind(err) != gateway.KindNotFound {
		t.Errorf("revoke by another tenant: err = %v, want not found", err)
	}
	if _, err := keys.Revoke(ctx, a.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TenantByKeyHash(ctx, hash); gateway.ErrorKind(err) != gateway.KindNotFound {
		t.Errorf("revoked key still resolves: %v", err)
	}
}
