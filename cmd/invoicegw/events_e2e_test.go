package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway/stdwebhook"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/tracking"
)

// e2eMailgunKey is the Mailgun webhook signing key the test gateway is configured with.
const e2eMailgunKey = "key-e2e-mailgun"

func mailgunBody(key, event string) string {
	ts, token := fmt.Sprint(time.Now().Unix()), "tok-"+fmt.Sprint(time.Now().UnixNano())
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts + token))
	return fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
		ts, token, hex.EncodeToString(mac.Sum(nil)), event)
}

// TestEventsEndToEnd: an accounting system registers a webhook endpoint, sends an
// invoice, and learns through signed webhooks and the event feed that it was
// accepted, sent and (by a Mailgun event) delivered.
func TestEventsEndToEnd(t *testing.T) {
	g := startGateway(t)
	var mu sync.Mutex
	type hit struct {
		h    http.Header
		body []byte
	}
	var hits []hit
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, hit{r.Header.Clone(), b})
		mu.Unlock()
	}))
	defer receiver.Close()

	t.Run("bad endpoint input is a problem naming every bad field", func(t *testing.T) {
		res := g.do("POST", "/v1/webhooks/endpoints", g.apiKey, "application/json",
			`{"url":"ftp://x","event_types":["invoice.delivered","invoice.paid"]}`)
		if res.status != 422 || !strings.Contains(string(res.body), `"field":"url"`) ||
			!strings.Contains(string(res.body), `"field":"event_types[1]"`) {
			t.Errorf("got %d %s, want 422 naming url and event_types[1]", res.status, res.body)
		}
	})

	res := g.do("POST", "/v1/webhooks/endpoints", g.apiKey, "application/json", `{"url":"`+receiver.URL+`/hook"}`)
	if res.status != 201 {
		t.Fatalf("create endpoint: %d %s", res.status, res.body)
	}
	ep := decode[struct{ ID, Secret string }](t, res.body)
	if !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("got secret %q, want whsec_...", ep.Secret)
	}
	if res := g.do("GET", "/v1/webhooks/endpoints", g.apiKey, "", ""); res.status != 200 || strings.Contains(string(res.body), ep.Secret) {
		t.Errorf("listing endpoints: %d, and it must not show the secret: %s", res.status, res.body)
	}

	res = g.postInvoice(g.apiKey, exampleInvoice)
	if res.status != 202 {
		t.Fatalf("post invoice: %d %s", res.status, res.body)
	}
	inv := decode[invoiceJSON](t, res.body)
	var got map[string]bool
	waitTypes := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got = map[string]bool{}
			for _, h := range hits {
				if err := stdwebhook.Verify(ep.Secret, h.h, h.body, time.Now(), 5*time.Minute); err != nil {
					t.Errorf("webhook does not verify: %v", err)
				}
				var m struct{ Type string }
				_ = json.Unmarshal(h.body, &m)
				got[m.Type] = true
			}
			mu.Unlock()
			all := true
			for _, w := range want {
				all = all && got[w]
			}
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got webhooks %v, want %v", got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitTypes("invoice.accepted", "invoice.sent")

	// The Mailgun event names the message by the Message-ID the gateway gave it.
	full := decode[struct {
		Deliveries []struct {
			MessageID string `json:"message_id"`
		}
	}](t, g.do("GET", "/v1/invoices/"+inv.ID, g.apiKey, "", "").body)
	event := fmt.Sprintf(`{"event":"delivered","id":"mg-e2e-1","timestamp":%d,"recipient":"jane.doe@globex.test",
		"message":{"headers":{"message-id":%q}},"delivery-status":{"code":250,"message":"2.0.0 OK","mx-host":"mx.globex.test"}}`,
		time.Now().Unix(), full.Deliveries[0].MessageID)

	t.Run("a Mailgun event with a bad signature is refused", func(t *testing.T) {
		if res := g.do("POST", "/v1/providers/mailgun", "", "application/json", mailgunBody("key-wrong", event)); res.status != 401 {
			t.Errorf("got %d %s, want 401", res.status, res.body)
		}
	})
	for i := 0; i < 2; i++ { // providers send events more than once
		if res := g.do("POST", "/v1/providers/mailgun", "", "application/json", mailgunBody(e2eMailgunKey, event)); res.status != 200 {
			t.Fatalf("mailgun webhook: %d %s", res.status, res.body)
		}
	}
	waitTypes("invoice.delivered")
	if st := decode[invoiceJSON](t, g.do("GET", "/v1/invoices/"+inv.ID, g.apiKey, "", "").body).Status; st != "delivered" {
		t.Errorf("got invoice status %s, want delivered", st)
	}

	t.Run("a DSN to the listener that serve started lands on the delivery", func(t *testing.T) {
		pool, err := postgres.Open(context.Background(), g.env["INVOICEGW_DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var token string
		if err := pool.QueryRow(context.Background(), `SELECT bounce_token FROM deliveries WHERE invoice_id = $1 ORDER BY id LIMIT 1`,
			inv.ID).Scan(&token); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile("../../tracking/dsn/testdata/postfix-relayed.eml")
		if err != nil {
			t.Fatal(err)
		}
		if err := smtp.SendMail(g.env["INVOICEGW_INBOUND_SMTP_ADDR"], nil, "", []string{tracking.BounceAddress(token, "gw.test")}, raw); err != nil {
			t.Fatalf("send DSN: %v", err)
		}
		evs := decode[struct{ Events []eventJSON }](t, g.do("GET", "/v1/invoices/"+inv.ID+"/events", g.apiKey, "", "").body)
		found := false
		for _, e := range evs.Events {
			found = found || (e.Type == "relayed" && e.Detail["queue_id"] == "8CC52D80DC")
		}
		if !found {
			t.Errorf("got events %+v, want a relayed event with postfix's queue id", evs.Events)
		}
	})

	t.Run("GET /v1/events pages through everything once", func(t *testing.T) {
		var types []string
		after := ""
		for page := 0; page < 20; page++ {
			res := g.do("GET", "/v1/events?limit=2&after="+after, g.apiKey, "", "")
			if res.status != 200 {
				t.Fatalf("events: %d %s", res.status, res.body)
			}
			p := decode[struct {
				Events []struct {
					Type string `json:"type"`
				} `json:"events"`
				NextCursor string `json:"next_cursor"`
				HasMore    bool   `json:"has_more"`
			}](t, res.body)
			for _, e := range p.Events {
				types = append(types, e.Type)
			}
			after = p.NextCursor
			if !p.HasMore {
				break
			}
		}
		joined := strings.Join(types, ",")
		if strings.Count(joined, "delivered") != 1 || !strings.HasPrefix(joined, "accepted,") || !strings.Contains(joined, "sent") {
			t.Errorf("got events %s, want accepted first, sent, and one delivered", joined)
		}
	})

	t.Run("the delivery log shows every message delivered at the first try", func(t *testing.T) {
		res := g.do("GET", "/v1/webhooks/endpoints/"+ep.ID+"/deliveries", g.apiKey, "", "")
		log := decode[struct {
			Deliveries []struct {
				Status   string `json:"status"`
				Attempts int    `json:"attempts"`
			} `json:"deliveries"`
		}](t, res.body)
		if len(log.Deliveries) < 3 {
			t.Fatalf("got %s, want at least 3 deliveries", res.body)
		}
		for _, d := range log.Deliveries {
			if d.Status != "succeeded" || d.Attempts != 1 {
				t.Errorf("got %+v, want succeeded at the first attempt", d)
			}
		}
	})
}
