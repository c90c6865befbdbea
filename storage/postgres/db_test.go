package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/tracking"
	"github.com/jackc/pgx/v5/pgxpool"
)

func newDB(t testing.TB) (*postgres.DB, *pgxpool.Pool) {
	t.Helper()
	db, pool, _ := newDBURL(t)
	return db, pool
}

// newDBURL is newDB with the schema's database URL.
func newDBURL(t testing.TB) (*postgres.DB, *pgxpool.Pool, string) {
	t.Helper()
	pool, dbURL := pgtest.MustOpen(t)
	db, err := postgres.New(pool, 5)
	if err != nil {
		t.Fatal(err)
	}
	return db, pool, dbURL
}

func newTenant(t testing.TB, db *postgres.DB) gateway.Tenant {
	t.Helper()
	_, hash, err := gateway.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	ten := gateway.Tenant{ID: gateway.NewID("ten"), Name: "Acme"}
	if err := db.CreateTenant(context.Background(), ten, gateway.NewID("key"), hash); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return ten
}

func newRecord(t testing.TB, tenantID, number string) *gateway.Record {
	t.Helper()
	inv := gateway.Invoice{
		Number: number, Currency: "EUR",
		IssueDate: gateway.NewDate(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)),
		DueDate:   gateway.NewDate(time.Date(2026, 12, 23, 0, 0, 0, 0, time.UTC)),
		Seller:    gateway.Party{Name: "Acme", Address: gateway.Address{Line1: "x", City: "Berlin", Country: "DE"}},
		Customer: gateway.Customer{ID: "C1", Name: "Globex", Address: gateway.Address{Line1: "y", City: "Springfield", Country: "US"},
			Contact: gateway.Contact{Name: "Jane Doe", Email: "jane@globex.test"}},
		Lines: []gateway.Line{{Description: "Widget", Quantity: "3", UnitPrice: "19.99", TaxRate: "19"}},
		Terms: "Net 30",
	}
	totals, err := inv.Validate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := &gateway.Record{ID: gateway.NewID("inv"), TenantID: tenantID, Invoice: inv, Totals: totals, Terms: inv.Terms,
		TermsSHA256: "t", PayloadSHA256: "p", Status: gateway.StatusQueued, CreatedAt: now, UpdatedAt: now}
	r.Deliveries = []gateway.Delivery{{ID: gateway.NewID("dlv"), InvoiceID: r.ID, TenantID: tenantID,
		Recipient: inv.Customer.Contact, Status: gateway.StatusQueued, MessageID: "m@x"}}
	return r
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestCreateInvoiceStoresAndEnqueuesAtomically(t *testing.T) {
	t.Parallel()
	db, pool := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := newRecord(t, ten.ID, "INV-1")
	if err := db.CreateInvoice(ctx, r, gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := count(t, pool, `SELECT count(*) FROM river_job WHERE kind = 'deliver'`); got != 1 {
		t.Errorf("deliver jobs = %d, want 1", got)
	}
	got, err := db.Invoice(ctx, ten.ID, r.ID)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got.Totals.Total != "71.36" || got.Invoice.Customer.Contact.Name != "Jane Doe" || len(got.Deliveries) != 1 {
		t.Errorf("read back total=%q contact=%q deliveries=%d, want 71.36, Jane Doe, 1", got.Totals.Total, got.Invoice.Customer.Contact.Name, len(got.Deliveries))
	}

	t.Run("a second invoice with the same number is a conflict naming the first and stores nothing", func(t *testing.T) {
		dup := newRecord(t, ten.ID, "INV-1")
		err := db.CreateInvoice(ctx, dup, gateway.NewEvent(dup.ID, "", gateway.EventAccepted, time.Now(), nil))
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Kind != gateway.KindConflict || ge.Detail["invoice_id"] != r.ID {
			t.Fatalf("err = %v, want conflict naming %s", err, r.ID)
		}
		if got := count(t, pool, `SELECT count(*) FROM river_job`); got != 1 {
			t.Errorf("jobs after conflict = %d, want 1", got)
		}
		if got := count(t, pool, `SELECT count(*) FROM events`); got != 1 {
			t.Errorf("events after conflict = %d, want 1", got)
		}
	})

	t.Run("another tenant sees nothing", func(t *testing.T) {
		other := newTenant(t, db)
		if _, err := db.Invoice(ctx, other.ID, r.ID); gateway.ErrorKind(err) != gateway.KindNotFound {
			t.Errorf("Invoice: err = %v, want not found", err)
		}
		if _, err := db.Events(ctx, other.ID, r.ID); gateway.ErrorKind(err) != gateway.KindNotFound {
			t.Errorf("Events: err = %v, want not found", err)
		}
		// The same number is free for another tenant.
		r2 := newRecord(t, other.ID, "INV-1")
		if err := db.CreateInvoice(ctx, r2, gateway.NewEvent(r2.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
			t.Errorf("same number, other tenant: %v", err)
		}
	})
}

func TestSendStateMachine(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-2")
	d := &r.Deliveries[0]
	_, hash, _ := tracking.NewToken()
	tok := gateway.Token{Hash: hash, Kind: gateway.TokenLink, DeliveryID: d.ID, InvoiceID: r.ID, TenantID: ten.ID}
	if err := db.BeginSend(ctx, d); gateway.ErrorKind(err) != gateway.KindConflict {
		t.Errorf("begin send before archiving: err = %v, want conflict (no archive, no send)", err)
	}
	if err := db.StartRendering(ctx, d); err != nil {
		t.Fatalf("start rendering: %v", err)
	}
	msg := gateway.Object{Key: "m.eml", SHA256: "ab", Size: 2}
	if err := db.SetMessageAndBeginSend(ctx, d, nil, msg, []gateway.Token{tok}, gateway.NewEvent(r.ID, d.ID, gateway.EventArchived, time.Now(), msg)); err != nil {
		t.Fatalf("set message and begin send: %v", err)
	}
	sending, err := db.Invoice(ctx, ten.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sd := sending.Deliveries[0]; sending.Status != gateway.StatusSending || sd.Status != gateway.StatusSending || sd.Attempts != 1 {
		t.Errorf("after set message and begin send: invoice %s, delivery %s, attempts %d; want sending, sending, 1 (committed before SMTP)",
			sending.Status, sd.Status, sd.Attempts)
	}
	if err := db.SetMessageAndBeginSend(ctx, d, nil, msg, nil, gateway.NewEvent(r.ID, d.ID, gateway.EventArchived, time.Now(), msg)); gateway.ErrorKind(err) != gateway.KindConflict {
		t.Errorf("second set message: err = %v, want conflict (the first archived message is the one sent)", err)
	}
	if err := db.BeginSend(ctx, d); gateway.ErrorKind(err) != gateway.KindConflict {
		t.Errorf("begin send while sending: err = %v, want conflict (a sending delivery is never started twice)", err)
	}
	ev := gateway.NewEvent(r.ID, d.ID, gateway.EventSent, time.Now(), map[string]string{"reply": "2.0.0 Ok"})
	if err := db.FinishSend(ctx, d, gateway.StatusSent, "2.0.0 Ok", ev); err != nil {
		t.Fatalf("finish: %v", err)
	}
	got, err := db.Invoice(ctx, ten.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != gateway.StatusSent || got.Deliveries[0].LastReply != "2.0.0 Ok" || got.Deliveries[0].SentAt == nil || got.Deliveries[0].Attempts != 1 {
		t.Errorf("after send: status=%s reply=%q sent_at=%v attempts=%d", got.Status, got.Deliveries[0].LastReply, got.Deliveries[0].SentAt, got.Deliveries[0].Attempts)
	}
	resolved, err := db.ResolveToken(ctx, hash)
	if err != nil || resolved.DeliveryID != d.ID || resolved.Kind != gateway.TokenLink {
		t.Errorf("resolve token = %+v, %v", resolved, err)
	}
	if _, err := db.ResolveToken(ctx, make([]byte, 32)); gateway.ErrorKind(err) != gateway.KindNotFound {
		t.Errorf("unknown token: err = %v, want not found", err)
	}
	evs, err := db.Events(ctx, ten.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Type != gateway.EventAccepted || evs[1].Type != gateway.EventArchived || evs[2].Type != gateway.EventSent || evs[2].Level != 2 {
		t.Errorf("events = %+v, want accepted, archived, sent(level 2)", evs)
	}
	if got.Deliveries[0].Message == nil || *got.Deliveries[0].Message != msg {
		t.Errorf("delivery message = %+v, want %+v", got.Deliveries[0].Message, msg)
	}
}

func TestSetPDFFirstWins(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-3")
	first := gateway.Object{Key: "a", SHA256: "aa", Size: 1}
	got, err := db.SetPDF(ctx, r, first, gateway.NewEvent(r.ID, "", gateway.EventArchived, time.Now(), first))
	if err != nil || got != first {
		t.Fatalf("first SetPDF = %v, %v", got, err)
	}
	got, err = db.SetPDF(ctx, r, gateway.Object{Key: "b", SHA256: "bb", Size: 2}, gateway.NewEvent(r.ID, "", gateway.EventArchived, time.Now(), nil))
	if err != nil || got != first {
		t.Errorf("second SetPDF = %v, %v; want the first object back", got, err)
	}
	evs, _ := db.Events(ctx, ten.ID, r.ID)
	if len(evs) != 2 {
		t.Errorf("events = %d, want 2 (the losing archive records nothing)", len(evs))
	}
}

func TestFirstSendRecordsThePDFItCarriesUnlessAnotherWasRecorded(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-4")
	d := &r.Deliveries[0]
	first := gateway.Object{Key: "a", SHA256: "aa", Size: 1}
	if _, err := db.SetPDF(ctx, r, first, gateway.NewEvent(r.ID, "", gateway.EventArchived, time.Now(), first)); err != nil {
		t.Fatal(err)
	}
	other := &gateway.NewPDF{Object: gateway.Object{Key: "b", SHA256: "bb", Size: 2},
		Events: []gateway.Event{gateway.NewEvent(r.ID, "", gateway.EventRendered, time.Now(), nil)}}
	msg := gateway.Object{Key: "m.eml", SHA256: "ab", Size: 2}
	err := db.SetMessageAndBeginSend(ctx, d, other, msg, nil, gateway.NewEvent(r.ID, d.ID, gateway.EventArchived, time.Now(), msg))
	var taken *gateway.PDFTakenError
	if gateway.ErrorKind(err) != gateway.KindConflict || !errors.As(err, &taken) || taken.Recorded != first {
		t.Fatalf("message around another PDF: err = %v, want conflict naming %+v", err, first)
	}
	got, err := db.Invoice(ctx, ten.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Deliveries[0].Status != gateway.StatusQueued || got.Deliveries[0].Message != nil || *got.PDF != first {
		t.Errorf("after the refused message: delivery %s, message %+v, pdf %+v; want queued, none, the first PDF",
			got.Deliveries[0].Status, got.Deliveries[0].Message, got.PDF)
	}
	same := &gateway.NewPDF{Object: first, Events: other.Events}
	if err := db.SetMessageAndBeginSend(ctx, d, same, msg, nil, gateway.NewEvent(r.ID, d.ID, gateway.EventArchived, time.Now(), msg)); err != nil {
		t.Fatalf("message around the recorded PDF: %v", err)
	}
	evs, _ := db.Events(ctx, ten.ID, r.ID)
	if len(evs) != 3 {
		t.Errorf("events = %d, want 3 (accepted, pdf archived, message archived; nothing for the refused attempt)", len(evs))
	}

	r2 := newRecord(t, ten.ID, "INV-5")
	if err := db.CreateInvoice(ctx, r2, gateway.NewEvent(r2.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	d2 := &r2.Deliveries[0]
	fresh := &gateway.NewPDF{Object: gateway.Object{Key: "c", SHA256: "cc", Size: 3}, Events: []gateway.Event{
		gateway.NewEvent(r2.ID, "", gateway.EventRendered, time.Now(), nil),
		gateway.NewEvent(r2.ID, "", gateway.EventArchived, time.Now(), nil)}}
	if err := db.SetMessageAndBeginSend(ctx, d2, fresh, msg, nil, gateway.NewEvent(r2.ID, d2.ID, gateway.EventArchived, time.Now(), msg)); err != nil {
		t.Fatalf("first message with its PDF: %v", err)
	}
	got, err = db.Invoice(ctx, ten.ID, r2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PDF == nil || *got.PDF != fresh.Object || got.Deliveries[0].Status != gateway.StatusSending {
		t.Errorf("after the first message: pdf %+v, delivery %s; want %+v, sending", got.PDF, got.Deliveries[0].Status, fresh.Object)
	}
	if evs, _ := db.Events(ctx, ten.ID, r2.ID); len(evs) != 4 {
		t.Errorf("events = %d, want 4 (accepted, rendered, pdf archived, message archived)", len(evs))
	}
}

func TestServeRefusesOutdatedSchema(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.MustOpen(t)
	ctx := context.Background()
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		t.Fatalf("migrated schema: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(ctx, pool); !errors.Is(err, postgres.ErrSchemaOutdated) {
		t.Errorf("after removing the last version: err = %v, want ErrSchemaOutdated", err)
	}
}
