package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/jobs"
	"github.com/invoicegw/invoicegw/gateway/stdwebhook"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
)

// receiver is an accounting system's webhook endpoint that fails on purpose.
type receiver struct {
	mu   sync.Mutex
	hits map[string][]*http.Request
	body map[string][][]byte
	// failures is how many requests to a path fail with 500 before it answers 200.
	failures map[string]int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.hits[r.URL.Path] = append(rc.hits[r.URL.Path], r)
	rc.body[r.URL.Path] = append(rc.body[r.URL.Path], b)
	n := len(rc.hits[r.URL.Path])
	rc.mu.Unlock()
	switch {
	case r.URL.Path == "/gone":
		w.WriteHeader(http.StatusGone)
	case r.URL.Path == "/redirect":
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	case n <= rc.failures[r.URL.Path]:
		w.WriteHeader(http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (rc *receiver) count(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits[path])
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWebhooksRetryDisableAndReplay(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.MustOpen(t)
	db, err := postgres.New(pool, 5)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := &receiver{hits: map[string][]*http.Request{}, body: map[string][][]byte{}, failures: map[string]int{"/flaky": 2}}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	wh := gateway.NewWebhooks(db, stdwebhook.NewPoster(5*time.Second, true), time.Now, log)
	_, hash, _ := gateway.NewAPIKey()
	ten := gateway.Tenant{ID: gateway.NewID("ten"), Name: "Acme"}
	if err := db.CreateTenant(ctx, ten, gateway.NewID("key"), hash); err != nil {
		t.Fatal(err)
	}
	endpoint := func(path string, types ...string) *gateway.WebhookEndpoint {
		u := srv.URL + path
		in := gateway.EndpointInput{URL: &u}
		if len(types) > 0 {
			in.EventTypes = &types
		}
		ep, err := wh.CreateEndpoint(ctx, ten.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	flaky := endpoint("/flaky", "invoice.delivered")
	gone := endpoint("/gone")
	redirect := endpoint("/redirect", "invoice.delivered")

	inv := gateway.NewID("inv")
	if _, err := pool.Exec(ctx, `INSERT INTO invoices (id, tenant_id, number, customer_id, currency, issue_date, due_date,
		document, totals, total, amount_due, terms, terms_sha256, payload_sha256, status)
		VALUES ($1, $2, 'INV-W1', 'C1', 'EUR', '2026-11-23', '2026-12-23', '{}', '{}', 1, 1, 't', 't', 'p', 'sent')`, inv, ten.ID); err != nil {
		t.Fatal(err)
	}
	delivered := gateway.NewEvent(inv, "", gateway.EventDelivered, time.Now(), map[string]string{"status": "2.0.0"})
	if err := db.RecordEvent(ctx, ten.ID, delivered); err != nil {
		t.Fatal(err)
	}

	backoff := []time.Duration{100 * time.Millisecond}
	client, err := jobs.NewClient(pool, nil, jobs.Config{Workers: 4, RetryBase: time.Second, RetryMax: time.Second,
		Webhooks: wh, WebhookBackoff: backoff}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Stop(ctx)
	})

	t.Run("a receiver that fails twice gets the event on the third try, signed the Standard Webhooks way", func(t *testing.T) {
		eventually(t, "the flaky receiver got 3 requests", func() bool { return rc.count("/flaky") >= 3 })
		time.Sleep(300 * time.Millisecond) // a fourth request would be a bug
		rc.mu.Lock()
		hits, bodies := rc.hits["/flaky"], rc.body["/flaky"]
		rc.mu.Unlock()
		if len(hits) != 3 {
			t.Fatalf("got %d requests, want 3", len(hits))
		}
		for i, r := range hits {
			if r.Header.Get("webhook-id") != hits[0].Header.Get("webhook-id") {
				t.Errorf("request %d has webhook-id %s, want the same id on every retry", i, r.Header.Get("webhook-id"))
			}
			if err := stdwebhook.Verify(flaky.Secret, r.Header, bodies[i], time.Now(), 5*time.Minute); err != nil {
				t.Errorf("request %d does not verify: %v", i, err)
			}
		}
		var payload struct {
			Type string
			Data gateway.Event
		}
		if err := json.Unmarshal(bodies[2], &payload); err != nil {
			t.Fatal(err)
		}
		if payload.Type != "invoice.delivered" || payload.Data.InvoiceID != inv || payload.Data.Level != 3 {
			t.Errorf("got payload %+v, want invoice.delivered of %s at level 3", payload, inv)
		}
		ds, err := wh.Deliveries(ctx, ten.ID, flaky.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the log shows success", func() bool {
			ds, _ = wh.Deliveries(ctx, ten.ID, flaky.ID, 10)
			return len(ds) == 1 && ds[0].Status == gateway.WebhookSucceeded
		})
		var codes []int
		for _, a := range ds[0].Log {
			codes = append(codes, a.StatusCode)
		}
		if len(codes) != 3 || codes[0] != 500 || codes[1] != 500 || codes[2] != 204 {
			t.Errorf("got attempt log %v, want [500 500 204]", codes)
		}

		t.Run("a replay sends the same message again", func(t *testing.T) {
			d, err := wh.Replay(ctx, ten.ID, ds[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the replay arrived", func() bool { return rc.count("/flaky") == 4 })
			rc.mu.Lock()
			last := rc.hits["/flaky"][3]
			rc.mu.Unlock()
			if d.ReplayOf != ds[0].ID || last.Header.Get("webhook-id") != hits[0].Header.Get("webhook-id") {
				t.Errorf("got replay of %q with webhook-id %s, want replay of %s with %s", d.ReplayOf,
					last.Header.Get("webhook-id"), ds[0].ID, hits[0].Header.Get("webhook-id"))
			}
		})
	})

	t.Run("a 410 disables the endpoint and later events are not queued for it", func(t *testing.T) {
		eventually(t, "the endpoint is disabled", func() bool {
			eps, _ := wh.Endpoints(ctx, ten.ID)
			for _, ep := range eps {
				if ep.ID == gone.ID {
					return ep.Disabled
				}
			}
			return false
		})
		before := rc.count("/gone")
		if err := db.RecordEvent(ctx, ten.ID, gateway.NewEvent(inv, "", gateway.EventBounced, time.Now(), nil)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if got := rc.count("/gone"); got != before || before != 1 {
			t.Errorf("got %d requests to the gone endpoint (%d before the new event), want exactly 1", got, before)
		}
		ds, _ := wh.Deliveries(ctx, ten.ID, gone.ID, 10)
		if len(ds) != 1 || ds[0].Status != gateway.WebhookFailed {
			t.Errorf("got deliveries %+v, want one failed", ds)
		}
	})

	t.Run("a redirect is a failure, and its target is never called", func(t *testing.T) {
		eventually(t, "the redirect was tried twice", func() bool { return rc.count("/redirect") >= 2 })
		ds, _ := wh.Deliveries(ctx, ten.ID, redirect.ID, 10)
		if len(ds) != 1 || ds[0].Status == gateway.WebhookSucceeded || len(ds[0].Log) == 0 ||
			!strings.Contains(ds[0].Log[0].Error, "redirect 302") {
			t.Errorf("got %+v, want a retrying delivery whose log says redirect 302", ds)
		}
		if got := rc.count("/elsewhere"); got != 0 {
			t.Errorf("the redirect target got %d requests, want 0", got)
		}
	})

	t.Run("GET /v1/events pages with a cursor", func(t *testing.T) {
		p1, err := wh.Events(ctx, ten.ID, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := wh.Events(ctx, ten.ID, p1.NextCursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		p3, err := wh.Events(ctx, ten.ID, p2.NextCursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p1.Events) != 1 || !p1.HasMore || p1.Events[0].Type != gateway.EventDelivered ||
			len(p2.Events) != 1 || p2.HasMore || p2.Events[0].Type != gateway.EventBounced ||
			len(p3.Events) != 0 || p3.NextCursor != p2.NextCursor {
			t.Errorf("got pages %+v / %+v / %+v", p1, p2, p3)
		}
		if _, err := wh.Events(ctx, ten.ID, "garbage", 0); gateway.ErrorKind(err) != gateway.KindInvalid {
			t.Errorf("a bad cursor gave %v, want KindInvalid", err)
		}
	})
}
