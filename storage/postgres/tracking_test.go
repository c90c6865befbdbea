package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/hitlog"
	"github.com/invoicegw/invoicegw/storage/postgres"
)

func hitOn(r *gateway.Record, class string, at time.Time) gateway.TrackHit {
	d := r.Deliveries[0]
	return gateway.TrackHit{TenantID: r.TenantID, InvoiceID: r.ID, DeliveryID: d.ID, TokenKind: gateway.TokenPixel,
		Event: gateway.EventOpened, At: at, Method: "GET", UserAgent: "ua", IPPrefix: "192.0.2.0/24",
		Classification: class, Reason: "r", PrivacyMode: gateway.PrivacyFull}
}

func TestHitStoreStoresEveryHitEachFirstOnceAndThePosition(t *testing.T) {
	db, pool := newDB(t)
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-HITS")
	ctx := context.Background()
	store := postgres.NewHitStore(pool)
	if got, err := store.DrainedTo(ctx, "log-a"); err != nil || got != (hitlog.Pos{}) {
		t.Fatalf("DrainedTo(new log) = %v, %v; want the zero position", got, err)
	}
	// Three batches, as a drainer would store them; two stores (two gateways, or a
	// restart) know nothing of each other's firsts.
	var want hitlog.Pos
	for b := range 3 {
		var hits []gateway.TrackHit
		for i := range 100 {
			class := "human"
			if (b*100+i)%3 == 0 {
				class = "machine"
			}
			hits = append(hits, hitOn(r, class, time.Now()))
		}
		want = hitlog.Pos{Segment: 1, Offset: int64(b+1) * 1000}
		if b == 2 {
			store = postgres.NewHitStore(pool)
		}
		if err := store.StoreHits(ctx, "log-a", hits, want); err != nil {
			t.Fatalf("StoreHits() error = %v", err)
		}
	}
	if got := count(t, pool, `SELECT count(*) FROM tracking_hits WHERE invoice_id = $1`, r.ID); got != 300 {
		t.Errorf("stored hits = %d, want 300", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM events WHERE invoice_id = $1 AND type = 'opened'`, r.ID); got != 2 {
		t.Errorf("opened evidence events = %d, want 2 (the first human and the first machine hit)", got)
	}
	var detail string
	if err := pool.QueryRow(ctx, `SELECT detail::text FROM events WHERE invoice_id = $1 AND type = 'opened' ORDER BY id LIMIT 1`, r.ID).Scan(&detail); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`"classification": "machine"`, `"user_agent": "ua"`, `"ip": "192.0.2.0/24"`, `"privacy_mode": "full"`} {
		if !strings.Contains(detail, part) {
			t.Errorf("first evidence detail = %s, want it to contain %s", detail, part)
		}
	}
	if got, err := store.DrainedTo(ctx, "log-a"); err != nil || got != want {
		t.Errorf("DrainedTo() = %v, %v; want %v", got, err, want)
	}
	if got, err := store.DrainedTo(ctx, "log-b"); err != nil || got != (hitlog.Pos{}) {
		t.Errorf("DrainedTo(another log) = %v, %v; want the zero position", got, err)
	}
	hits, err := db.TrackingHits(ctx, ten.ID, r.ID)
	if err != nil || len(hits) != 300 || hits[0].UserAgent != "ua" || hits[0].IPPrefix != "192.0.2.0/24" {
		t.Errorf("TrackingHits() = %d hits (first %+v), %v", len(hits), hits[0], err)
	}
}

func TestStoredHitsReadBackFieldForFieldWithoutAgentOrNetworkInAnonymousMode(t *testing.T) {
	db, pool := newDB(t)
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-HIT-FIELDS")
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 8, 30, 1, 123456789, time.UTC)
	full := hitOn(r, "human", at)
	full.UserAgent, full.Reason = "Mozilla/5.0 (Ünïcode; tab\there)", "browser"
	anon := hitOn(r, "machine", at.Add(time.Second))
	anon.UserAgent, anon.IPPrefix, anon.Reason, anon.Method, anon.PrivacyMode = "", "", "head_request", "HEAD", gateway.PrivacyAnonymous
	if err := postgres.NewHitStore(pool).StoreHits(ctx, "log", []gateway.TrackHit{full, anon}, hitlog.Pos{Segment: 1, Offset: 1}); err != nil {
		t.Fatalf("StoreHits() error = %v", err)
	}
	got, err := db.TrackingHits(ctx, ten.ID, r.ID)
	if err != nil || len(got) != 2 {
		t.Fatalf("TrackingHits() = %d hits, %v; want 2", len(got), err)
	}
	for i, h := range []gateway.TrackHit{full, anon} {
		want := gateway.RawHit{ID: got[i].ID, DeliveryID: h.DeliveryID, TokenKind: string(h.TokenKind), Event: string(h.Event),
			At: h.At.Truncate(time.Microsecond), Method: h.Method, UserAgent: h.UserAgent, IPPrefix: h.IPPrefix,
			Classification: h.Classification, Reason: h.Reason}
		if got[i] != want {
			t.Errorf("hit %d read back as %+v, want %+v", i, got[i], want)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM tracking_hits WHERE invoice_id = $1 AND tenant_id = $2
		AND user_agent IS NULL AND ip_prefix IS NULL`, r.ID, ten.ID); n != 1 {
		t.Errorf("hits stored with NULL agent and network = %d, want 1 (the anonymous one)", n)
	}
}

func TestPurgeTrackingHitsHonoursRetentionAndKeepsEvidence(t *testing.T) {
	db, pool := newDB(t)
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-PURGE")
	ctx := context.Background()
	store := postgres.NewHitStore(pool)
	now := time.Now().UTC()
	for i, age := range []time.Duration{400 * 24 * time.Hour, 10 * 24 * time.Hour, time.Hour} {
		if err := store.StoreHits(ctx, "log", []gateway.TrackHit{hitOn(r, "human", now.Add(-age))}, hitlog.Pos{Segment: 1, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		retention int // 0: the default
		wantLeft  int
	}{
		{"deletes hits past the default 396 days", 0, 2},
		{"deletes hits past the tenant's own retention", 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.retention > 0 {
				s := gateway.DefaultTrackingSettings()
				s.RawRetentionDays = tt.retention
				if _, err := db.SetTrackingSettings(ctx, ten.ID, s); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.PurgeTrackingHits(ctx, now); err != nil {
				t.Fatalf("PurgeTrackingHits() error = %v", err)
			}
			if got := count(t, pool, `SELECT count(*) FROM tracking_hits WHERE invoice_id = $1`, r.ID); got != tt.wantLeft {
				t.Errorf("hits left = %d, want %d", got, tt.wantLeft)
			}
		})
	}
	if got := count(t, pool, `SELECT count(*) FROM events WHERE invoice_id = $1 AND type = 'opened'`, r.ID); got != 1 {
		t.Errorf("opened evidence events after purges = %d, want 1: evidence stays", got)
	}
}

func TestTrackingSettingsDefaultOffAndRoundTrip(t *testing.T) {
	db, _ := newDB(t)
	ten := newTenant(t, db)
	ctx := context.Background()
	got, err := db.TrackingSettings(ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PrivacyMode != gateway.PrivacyOff || got.RawRetentionDays != 396 || got.LinkExpiryDaysAfterDue != 120 || got.UpdatedAt != nil {
		t.Errorf("a new tenant's settings = %+v, want off, 396, 120, never updated", got)
	}
	want := gateway.TrackingSettings{PrivacyMode: gateway.PrivacyAnonymous, RawRetentionDays: 30, LinkExpiryDaysAfterDue: 7}
	if _, err := db.SetTrackingSettings(ctx, ten.ID, want); err != nil {
		t.Fatal(err)
	}
	got, err = db.TrackingSettings(ctx, ten.ID)
	if err != nil || got.PrivacyMode != want.PrivacyMode || got.RawRetentionDays != 30 || got.LinkExpiryDaysAfterDue != 7 || got.UpdatedAt == nil {
		t.Errorf("settings after set = %+v, %v; want %+v", got, err, want)
	}
}

func TestRevokeLinksIsPerTenant(t *testing.T) {
	db, _ := newDB(t)
	ten, other := newTenant(t, db), newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-REVOKE")
	ctx := context.Background()
	d := r.Deliveries[0].ID
	if _, err := db.RevokeLinks(ctx, other.ID, d); gateway.ErrorKind(err) != gateway.KindNotFound {
		t.Errorf("revoking another tenant's delivery: error = %v, want not found", err)
	}
	if revoked, _ := db.LinksRevoked(ctx, d); revoked {
		t.Fatal("links revoked by another tenant")
	}
	first, err := db.RevokeLinks(ctx, ten.ID, d)
	if err != nil {
		t.Fatal(err)
	}
	again, err := db.RevokeLinks(ctx, ten.ID, d)
	if err != nil || !again.Equal(first) {
		t.Errorf("revoking twice = %v, %v; want the first time %v", again, err, first)
	}
	if revoked, err := db.LinksRevoked(ctx, d); !revoked || err != nil {
		t.Errorf("LinksRevoked() = %v, %v; want true", revoked, err)
	}
}

// TestHitWithAnAgentPostgreSQLWouldRefuseIsStored: HTTP lets any byte above 0x7f
// into a User-Agent and PostgreSQL refuses text that is not UTF-8; such a hit, say
// one logged before the gateway cleaned agents, must not fail its batch (the drain
// would retry it forever with every hit behind it).
func TestHitWithAnAgentPostgreSQLWouldRefuseIsStored(t *testing.T) {
	db, pool := newDB(t)
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-HIT-BYTES")
	ctx := context.Background()
	bad := hitOn(r, "human", time.Now())
	bad.UserAgent = "Agent\x00 \xff\xfe/1.0"
	good := hitOn(r, "human", time.Now())
	if err := postgres.NewHitStore(pool).StoreHits(ctx, "log", []gateway.TrackHit{bad, good}, hitlog.Pos{Segment: 1, Offset: 1}); err != nil {
		t.Fatalf("StoreHits() error = %v", err)
	}
	got, err := db.TrackingHits(ctx, ten.ID, r.ID)
	if err != nil || len(got) != 2 {
		t.Fatalf("TrackingHits() = %d hits, %v; want 2", len(got), err)
	}
	if want := "Agent \uFFFD/1.0"; got[0].UserAgent != want {
		t.Errorf("stored agent = %q, want %q", got[0].UserAgent, want)
	}
}
