package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/tracking"
	"github.com/invoicegw/invoicegw/tracking/dsn"
	"github.com/invoicegw/invoicegw/tracking/inbound"
)

const bounceDomain = "gw.test"

// reportsRig is the inbound path as serve wires it: the SMTP listener handing
// messages to gateway.Reports on real Postgres and a real S3 bucket.
type reportsRig struct {
	db      *postgres.DB
	reports *gateway.Reports
	archive gateway.Archive
	addr    string
	tenant  gateway.Tenant
}

func newReportsRig(t *testing.T) *reportsRig {
	t.Helper()
	return newReportsRigAt(t, "127.0.0.1:0")
}

// newReportsRigAt listens on a fixed address, for an MTA whose routing names it.
func newReportsRigAt(t *testing.T, addr string) *reportsRig {
	t.Helper()
	db, _ := newDB(t)
	arch := archivetest.MustOpen(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reports := gateway.NewReports(db, arch, bounceDomain, time.Now, log)
	srv, err := inbound.Start(inbound.Config{Addr: addr, Domain: bounceDomain, MaxBytes: 1 << 20},
		inbound.HandlerFunc(func(ctx context.Context, env inbound.Envelope, raw []byte) error {
			return reports.ReceiveMail(ctx, gateway.ReportEnvelope(env), raw)
		}), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &reportsRig{db: db, reports: reports, archive: arch, addr: srv.Addr(), tenant: newTenant(t, db)}
}

// sentInvoice stores an invoice whose primary contact and one Cc were both sent.
func (rg *reportsRig) sentInvoice(t *testing.T, number string) (*gateway.Record, []gateway.Delivery) {
	t.Helper()
	ctx := context.Background()
	r := newRecord(t, rg.tenant.ID, number)
	cc := r.Deliveries[0]
	cc.ID, cc.Recipient, cc.MessageID = gateway.NewID("dlv"), gateway.Contact{Name: "AP", Email: "ap@globex.test"}, "cc-"+number+"@x"
	r.Deliveries[0].MessageID = "primary-" + number + "@x"
	r.Deliveries = append(r.Deliveries, cc)
	for i := range r.Deliveries {
		tok, err := tracking.NewBounceToken()
		if err != nil {
			t.Fatal(err)
		}
		r.Deliveries[i].BounceToken = tok
	}
	if err := rg.db.CreateInvoice(ctx, r, gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	for i := range r.Deliveries {
		d := &r.Deliveries[i]
		ev := gateway.NewEvent(r.ID, d.ID, gateway.EventSent, time.Now(), map[string]string{"reply": "2.0.0 Ok: queued as 2D86FD808B"})
		if err := rg.db.FinishSend(ctx, d, gateway.StatusSent, "2.0.0 Ok", ev); err != nil {
			t.Fatal(err)
		}
	}
	return r, r.Deliveries
}

// send delivers a message to the listener as a mail server would, with the null sender.
func (rg *reportsRig) send(t *testing.T, rcpt string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(rg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(""); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../tracking/dsn/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (rg *reportsRig) status(t *testing.T, r *gateway.Record) (invoice gateway.Status, deliveries map[string]gateway.Status) {
	t.Helper()
	got, err := rg.db.Invoice(context.Background(), rg.tenant.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	deliveries = map[string]gateway.Status{}
	for _, d := range got.Deliveries {
		deliveries[d.ID] = d.Status
	}
	return got.Status, deliveries
}

func (rg *reportsRig) events(t *testing.T, r *gateway.Record, typ gateway.EventType) []gateway.Event {
	t.Helper()
	evs, err := rg.db.Events(context.Background(), rg.tenant.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []gateway.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestDeliveryReportsOverSMTP(t *testing.T) {
	rg := newReportsRig(t)
	ctx := context.Background()

	t.Run("a success DSN records delivered at level 3 with status, queue id and the archived raw report", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-R1")
		raw := sample(t, "postfix-delivered.eml")
		if err := rg.send(t, tracking.BounceAddress(ds[0].BounceToken, bounceDomain), raw); err != nil {
			t.Fatalf("send report: %v", err)
		}
		evs := rg.events(t, r, gateway.EventDelivered)
		if len(evs) != 1 {
			t.Fatalf("got %d delivered events, want 1", len(evs))
		}
		var detail map[string]string
		if err := json.Unmarshal(evs[0].Detail, &detail); err != nil {
			t.Fatal(err)
		}
		if evs[0].Level != 3 || evs[0].DeliveryID != ds[0].ID || detail["status"] != "2.0.0" || detail["queue_id"] != "2D86FD808B" ||
			detail["reporting_mta"] != "mta.test" {
			t.Errorf("got event level %d delivery %s detail %v, want level 3 on %s with status 2.0.0, queue id 2D86FD808B, mta.test",
				evs[0].Level, evs[0].DeliveryID, detail, ds[0].ID)
		}
		stored, err := rg.archive.Get(ctx, detail["raw_key"])
		if err != nil {
			t.Fatalf("archived report %q: %v", detail["raw_key"], err)
		}
		sum := sha256.Sum256(stored)
		if got := hex.EncodeToString(sum[:]); got != detail["raw_sha256"] || string(stored) != string(raw) {
			t.Errorf("archived report hash %s, event says %s (bytes equal: %v)", got, detail["raw_sha256"], string(stored) == string(raw))
		}
		inv, dst := rg.status(t, r)
		if inv != gateway.StatusDelivered || dst[ds[0].ID] != gateway.StatusDelivered {
			t.Errorf("got invoice %s, delivery %s; want both delivered", inv, dst[ds[0].ID])
		}

		t.Run("the same report again changes nothing", func(t *testing.T) {
			if err := rg.send(t, tracking.BounceAddress(ds[0].BounceToken, bounceDomain), raw); err != nil {
				t.Fatal(err)
			}
			if got := len(rg.events(t, r, gateway.EventDelivered)); got != 1 {
				t.Errorf("got %d delivered events after a resend, want 1", got)
			}
		})
	})

	t.Run("a delivered report after a bounce does not move the delivery back", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-R2")
		addr := tracking.BounceAddress(ds[0].BounceToken, bounceDomain)
		if err := rg.send(t, addr, sample(t, "postfix-failed.eml")); err != nil {
			t.Fatal(err)
		}
		if err := rg.send(t, addr, sample(t, "postfix-delivered.eml")); err != nil {
			t.Fatal(err)
		}
		inv, dst := rg.status(t, r)
		if inv != gateway.StatusBounced || dst[ds[0].ID] != gateway.StatusBounced {
			t.Errorf("got invoice %s, delivery %s; want both bounced", inv, dst[ds[0].ID])
		}
		b := rg.events(t, r, gateway.EventBounced)
		if len(b) != 1 {
			t.Fatalf("got %d bounced events, want 1", len(b))
		}
		var detail map[string]string
		_ = json.Unmarshal(b[0].Detail, &detail)
		if detail["bounce_type"] != "hard" || detail["status"] != "5.1.1" {
			t.Errorf("got bounce %s %s, want hard 5.1.1", detail["bounce_type"], detail["status"])
		}
		// Both reports stay on the timeline: the evidence is kept, only the status holds.
		if got := len(rg.events(t, r, gateway.EventDelivered)); got != 1 {
			t.Errorf("got %d delivered events, want the late report recorded once", got)
		}
	})

	t.Run("a Cc's bounce leaves the invoice status alone", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-R3")
		if err := rg.send(t, tracking.BounceAddress(ds[1].BounceToken, bounceDomain), sample(t, "exim-hard.eml")); err != nil {
			t.Fatal(err)
		}
		inv, dst := rg.status(t, r)
		if inv != gateway.StatusSent || dst[ds[1].ID] != gateway.StatusBounced || dst[ds[0].ID] != gateway.StatusSent {
			t.Errorf("got invoice %s, cc %s, primary %s; want sent, bounced, sent", inv, dst[ds[1].ID], dst[ds[0].ID])
		}
	})

	t.Run("a read receipt is recorded without changing the status", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-R4")
		if err := rg.send(t, tracking.BounceAddress(ds[0].BounceToken, bounceDomain), sample(t, "mdn-displayed.eml")); err != nil {
			t.Fatal(err)
		}
		evs := rg.events(t, r, gateway.EventReadReceipt)
		if len(evs) != 1 || evs[0].Level != 4 {
			t.Fatalf("got read receipts %v, want one at level 4", evs)
		}
		if inv, _ := rg.status(t, r); inv != gateway.StatusSent {
			t.Errorf("got invoice %s, want sent", inv)
		}
	})

	t.Run("a report for an unknown token is kept for an operator", func(t *testing.T) {
		unknown, _ := tracking.NewBounceToken()
		if err := rg.send(t, tracking.BounceAddress(unknown, bounceDomain), sample(t, "postfix-delayed.eml")); err != nil {
			t.Fatal(err)
		}
		if err := rg.send(t, "bounce+not-a-token@"+bounceDomain, sample(t, "qmail-hard.eml")); err != nil {
			t.Fatal(err)
		}
		reps, err := rg.db.Reports(ctx, postgres.ReportFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var tokens []string
		for _, r := range reps {
			if r.Outcome == gateway.ReportUnknown && r.Raw != nil {
				tokens = append(tokens, r.Token)
			}
		}
		if len(tokens) != 2 || !strings.Contains(strings.Join(tokens, ","), unknown) {
			t.Errorf("got unknown-token reports %v, want two including %s", tokens, unknown)
		}
	})

	t.Run("a DSN whose token was lost on the way is matched by its ENVID", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-R5")
		raw := strings.Replace(string(sample(t, "dsn-envid-failed.eml")), "dlv_06h4366jthwjqctnczc6rzdkb4", ds[0].ID, 1)
		unknown, _ := tracking.NewBounceToken()
		if err := rg.send(t, tracking.BounceAddress(unknown, bounceDomain), []byte(raw)); err != nil {
			t.Fatal(err)
		}
		if got := rg.events(t, r, gateway.EventBounced); len(got) != 1 || got[0].DeliveryID != ds[0].ID {
			t.Errorf("got bounced events %v, want one on %s", got, ds[0].ID)
		}
	})

	t.Run("mail for any other domain is refused at RCPT", func(t *testing.T) {
		err := rg.send(t, "someone@example.com", []byte("Subject: hi\r\n\r\nhi\r\n"))
		if err == nil || !strings.Contains(err.Error(), "550") {
			t.Errorf("got %v, want a 550 refusal", err)
		}
	})
}

func TestProviderEventsAreDeduplicatedAndOrderIndependent(t *testing.T) {
	rg := newReportsRig(t)
	ctx := context.Background()
	r, ds := rg.sentInvoice(t, "INV-P1")
	msgID := ds[0].MessageID
	bounce := gateway.ProviderEvent{Provider: "ses", EventID: "sns-1", MessageID: "<" + msgID + ">", At: time.Now(),
		Report: dsn.Report{Kind: dsn.KindBounced, Bounce: dsn.BounceHard, Status: "5.1.1", Recipient: "jane@globex.test"},
		Raw:    []byte(`{"bounce":1}`)}
	delivered := gateway.ProviderEvent{Provider: "ses", EventID: "sns-2", MessageID: msgID, At: time.Now().Add(-time.Minute),
		Report: dsn.Report{Kind: dsn.KindDelivered, Status: "2.6.0"}, Raw: []byte(`{"delivery":1}`)}
	for _, pe := range []gateway.ProviderEvent{bounce, delivered, bounce, bounce} {
		if err := rg.reports.ReceiveProvider(ctx, pe); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(rg.events(t, r, gateway.EventBounced)); got != 1 {
		t.Errorf("got %d bounced events for one provider event sent three times, want 1", got)
	}
	if inv, dst := rg.status(t, r); inv != gateway.StatusBounced || dst[ds[0].ID] != gateway.StatusBounced {
		t.Errorf("got invoice %s, delivery %s; want both bounced although the delivery event came later", inv, dst[ds[0].ID])
	}
	evs := rg.events(t, r, gateway.EventDelivered)
	if len(evs) != 1 || !strings.Contains(string(evs[0].Detail), "sns-2") {
		t.Errorf("got delivered events %v, want one carrying its provider event id", evs)
	}

	t.Run("an event for a message the gateway never sent is kept for an operator", func(t *testing.T) {
		pe := bounce
		pe.EventID, pe.MessageID = "sns-3", "someone-else@x"
		if err := rg.reports.ReceiveProvider(ctx, pe); err != nil {
			t.Fatal(err)
		}
		reps, err := rg.db.Reports(ctx, postgres.ReportFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 1 || reps[0].DedupKey != "ses:sns-3" || reps[0].Outcome != gateway.ReportUnknown {
			t.Errorf("got %+v, want the sns-3 report as unknown", reps)
		}
	})
}
