package jobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/jobs"
	"github.com/invoicegw/invoicegw/gateway/mailer"
	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/render"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/templates"
	"github.com/invoicegw/invoicegw/tracking"
)

const bounceDomain = "gw.test"

// harness is one gateway's delivery side on real Postgres, MinIO, renderer and
// templates, sending through a mailer to a programmable SMTP server.
type harness struct {
	t      testing.TB
	db     *postgres.DB
	dbURL  string // tagged with the harness's own application_name
	intake *gateway.Intake
	arch   gateway.Archive
	tenant gateway.Tenant
}

type harnessOptions struct {
	mailer  gateway.Mailer
	archive gateway.Archive // default: a bucket per test
	workers int
	// appName tags the harness's database connections (application_name), so a
	// fault test can find and terminate exactly these.
	appName string
}

var (
	rendererOnce sync.Once
	rendererVal  *render.Renderer
	rendererErr  error
)

// sharedRenderer loads the fonts once per test binary: it is read-only.
func sharedRenderer(t testing.TB) *render.Renderer {
	rendererOnce.Do(func() { rendererVal, rendererErr = render.New() })
	if rendererErr != nil {
		t.Fatal(rendererErr)
	}
	return rendererVal
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	_, dbURL := pgtest.MustOpen(t)
	if o.appName != "" {
		dbURL += "&application_name=" + o.appName
	}
	// Sized like serve's pool: each worker holds a connection through its transactions.
	pool, err := postgres.Open(context.Background(), dbURL, int32(max(o.workers, 1))+16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db, err := postgres.New(pool, jobs.AttemptsFor(50*time.Millisecond, 100*time.Millisecond, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	arch := o.archive
	if arch == nil {
		arch = archivetest.MustOpen(t)
	}
	tmpl, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dl := gateway.NewDeliverer(db, sharedRenderer(t), arch, tmpl, mailer.Builder{}, o.mailer,
		gateway.DeliverConfig{MailFrom: "invoices@gw.test", PublicURL: "http://127.0.0.1:1", BounceDomain: bounceDomain},
		time.Now, log)
	workers := o.workers
	if workers == 0 {
		workers = 4
	}
	client, err := jobs.NewClient(pool, dl, jobs.Config{Workers: workers, RetryBase: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		FetchPoll: 50 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = client.Stop(stopCtx)
		cancel()
	})
	_, hash, err := gateway.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	ten := gateway.Tenant{ID: gateway.NewID("ten"), Name: "Acme", DefaultTerms: "Net 30"}
	if err := db.CreateTenant(ctx, ten, gateway.NewID("key"), hash); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, dbURL: dbURL, intake: gateway.NewIntake(db, arch, bounceDomain, time.Now, log), arch: arch, tenant: ten}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// accept posts the example invoice with a fresh number and the given cc list.
func (h *harness) accept(cc ...gateway.Contact) *gateway.Record {
	h.t.Helper()
	raw, err := os.ReadFile("../../deployments/local/example-invoice.json")
	if err != nil {
		h.t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		h.t.Fatal(err)
	}
	doc["number"] = fmt.Sprintf("INV-%d", time.Now().UnixNano())
	if len(cc) > 0 {
		doc["customer"].(map[string]any)["cc"] = cc
	}
	body, _ := json.Marshal(doc)
	r, err := h.intake.Accept(context.Background(), h.tenant, body, gateway.AcceptOptions{})
	if err != nil {
		h.t.Fatalf("accept invoice: %v", err)
	}
	return r.Record
}

// waitFinal waits until every delivery of the invoice is in a final state.
func (h *harness) waitFinal(id string, within time.Duration) *gateway.Record {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := h.db.Invoice(context.Background(), h.tenant.ID, id)
		if err == nil {
			done := true
			for _, d := range r.Deliveries {
				done = done && d.Status.Final()
			}
			if done {
				// The invoice row was read before the deliveries: read it again, now
				// that nothing moves any more.
				if r, err = h.db.Invoice(context.Background(), h.tenant.ID, id); err != nil {
					h.t.Fatal(err)
				}
				return r
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("invoice %s not final after %s: %+v (err %v)", id, within, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) eventTypes(id string) []string {
	h.t.Helper()
	evs, err := h.db.Events(context.Background(), h.tenant.ID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Type))
	}
	return got
}

func (h *harness) events(id string, typ gateway.EventType) []map[string]any {
	h.t.Helper()
	evs, err := h.db.Events(context.Background(), h.tenant.ID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range evs {
		if e.Type == typ {
			var m map[string]any
			_ = json.Unmarshal(e.Detail, &m)
			out = append(out, m)
		}
	}
	return out
}

// archived returns the archived message of d after checking its hash.
func (h *harness) archived(d gateway.Delivery) []byte {
	h.t.Helper()
	if d.Message == nil {
		h.t.Fatalf("delivery %s has no archived message", d.ID)
	}
	data, err := h.arch.Get(context.Background(), d.Message.Key)
	if err != nil {
		h.t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.Message.SHA256 {
		h.t.Fatalf("archived message hash differs from the recorded one")
	}
	return data
}

func relayTo(addr string, timeout time.Duration) *mailer.Sender {
	host, port, _ := strings.Cut(addr, ":")
	var p int
	fmt.Sscan(port, &p)
	return mailer.New(mailer.Config{Host: host, Port: p, TLS: mailer.TLSNone, HELO: "gw.test", Timeout: timeout}, nil)
}

// transfers records every complete data transfer the catcher saw.
type transfers struct {
	mu   sync.Mutex
	data [][]byte
	msgs []catcher.Message
}

func (tr *transfers) add(m catcher.Message) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.data = append(tr.data, m.Data)
	tr.msgs = append(tr.msgs, m)
}

func (tr *transfers) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.data)
}

func TestDeliveryFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reply         func(n int) catcher.Outcome
		mailDelay     func(n int) time.Duration
		timeout       time.Duration
		wantStatus    gateway.Status
		wantEvents    string // delivery events after "archived"
		wantTransfers int
		wantAccepted  int
		wantReply     string
	}{
		{
			name: "451 twice then 250 is sent once after two deferrals",
			reply: func(n int) catcher.Outcome {
				if n <= 2 {
					return catcher.Outcome{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Try again later"}
				}
				return catcher.Outcome{}
			},
			wantStatus: gateway.StatusSent, wantEvents: "deferred deferred sent", wantTransfers: 3, wantAccepted: 1,
		},
		{
			name: "550 fails at once with the reply and is not retried",
			reply: func(int) catcher.Outcome {
				return catcher.Outcome{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Rejected as spam"}
			},
			wantStatus: gateway.StatusFailed, wantEvents: "failed", wantTransfers: 1, wantReply: "550 5.7.1 Rejected as spam",
		},
		{
			name:       "connection dropped after the data is unknown_outcome, never resent",
			reply:      func(int) catcher.Outcome { return catcher.Outcome{Drop: true} },
			wantStatus: gateway.StatusUnknownOutcome, wantEvents: "unknown_outcome", wantTransfers: 1,
		},
		{
			name: "slow server before the data times out, is deferred, then sent",
			mailDelay: func(n int) time.Duration {
				if n == 1 {
					return 2 * time.Second
				}
				return 0
			},
			timeout:    500 * time.Millisecond,
			wantStatus: gateway.StatusSent, wantEvents: "deferred sent", wantTransfers: 1, wantAccepted: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tr transfers
			srv := catcher.MustStart(t, catcher.Options{MailDelay: tt.mailDelay, Reply: func(n int, m catcher.Message) catcher.Outcome {
				tr.add(m)
				if tt.reply == nil {
					return catcher.Outcome{}
				}
				return tt.reply(n)
			}})
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			h := newHarness(t, harnessOptions{mailer: relayTo(srv.Addr(), timeout)})
			r := h.accept()
			got := h.waitFinal(r.ID, 60*time.Second)
			d := got.Deliveries[0]
			if d.Status != tt.wantStatus || got.Status != tt.wantStatus {
				t.Errorf("status = %s (invoice %s), want %s", d.Status, got.Status, tt.wantStatus)
			}
			// A final state stays final: give a wrong retry the time to happen.
			time.Sleep(500 * time.Millisecond)
			if n := tr.count(); n != tt.wantTransfers {
				t.Errorf("server saw %d transfers, want %d", n, tt.wantTransfers)
			}
			if n := len(srv.Messages()); n != tt.wantAccepted {
				t.Errorf("server accepted %d messages, want %d", n, tt.wantAccepted)
			}
			types := h.eventTypes(r.ID)
			if want := "accepted rendered archived archived " + tt.wantEvents; strings.Join(types, " ") != want {
				t.Errorf("events = %v\nwant     %s", types, want)
			}
			if tt.wantReply != "" && d.LastReply != tt.wantReply {
				t.Errorf("last reply = %q, want %q", d.LastReply, tt.wantReply)
			}
			// Every transfer carried exactly the archived bytes, with the VERP sender
			// and the DSN request.
			eml := h.archived(d)
			tr.mu.Lock()
			defer tr.mu.Unlock()
			for i, m := range tr.msgs {
				if !bytes.Equal(m.Data, eml) {
					t.Errorf("transfer %d differs from the archived message (%d vs %d bytes)", i+1, len(m.Data), len(eml))
				}
				if tok, ok := tracking.ParseBounceAddress(m.From, bounceDomain); !ok || tok != d.BounceToken {
					t.Errorf("MAIL FROM = %q, want bounce+%s@%s", m.From, d.BounceToken, bounceDomain)
				}
				if m.Ret != "HDRS" || m.EnvID != d.ID || strings.Join(m.Notify, ",") != "SUCCESS,FAILURE,DELAY" {
					t.Errorf("DSN params RET=%q ENVID=%q NOTIFY=%v, want HDRS, %s, SUCCESS,FAILURE,DELAY", m.Ret, m.EnvID, m.Notify, d.ID)
				}
			}
			if tt.wantStatus == gateway.StatusSent {
				sent := h.events(r.ID, gateway.EventSent)
				if len(sent) != 1 || !strings.HasPrefix(fmt.Sprint(sent[0]["reply"]), "2.0.0 Ok: queued as ") ||
					sent[0]["message_sha256"] != d.Message.SHA256 {
					t.Errorf("sent events = %v, want one with the queue id reply and the message hash", sent)
				}
			}
		})
	}
}

func TestResendRedirectAndCc(t *testing.T) {
	t.Parallel()
	var tr transfers
	drop := true
	var mu sync.Mutex
	srv := catcher.MustStart(t, catcher.Options{Reply: func(n int, m catcher.Message) catcher.Outcome {
		tr.add(m)
		mu.Lock()
		defer mu.Unlock()
		if drop && m.To[0] == "jane.doe@globex.test" {
			return catcher.Outcome{Drop: true}
		}
		return catcher.Outcome{}
	}})
	h := newHarness(t, harnessOptions{mailer: relayTo(srv.Addr(), 5*time.Second)})
	svc := gateway.NewDeliveries(h.db, nil, bounceDomain, time.Now, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	r := h.accept(gateway.Contact{Name: "AP team", Email: "ap@globex.test"})
	got := h.waitFinal(r.ID, 30*time.Second)
	if len(got.Deliveries) != 2 {
		t.Fatalf("deliveries = %d, want 2 (contact and cc)", len(got.Deliveries))
	}
	byEmail := map[string]gateway.Delivery{}
	for _, d := range got.Deliveries {
		byEmail[d.Recipient.Email] = d
	}
	to, cc := byEmail["jane.doe@globex.test"], byEmail["ap@globex.test"]
	firstPDF := got.PDF
	if to.Status != gateway.StatusUnknownOutcome || cc.Status != gateway.StatusSent {
		t.Fatalf("statuses = to %s, cc %s; want unknown_outcome and sent", to.Status, cc.Status)
	}
	if got.Status != gateway.StatusUnknownOutcome {
		t.Errorf("invoice status = %s, want the contact's unknown_outcome (a cc never decides it)", got.Status)
	}
	if to.BounceToken == cc.BounceToken || to.MessageID == cc.MessageID || to.Message.SHA256 == cc.Message.SHA256 {
		t.Errorf("contact and cc share a token, Message-ID or message: %+v %+v", to, cc)
	}

	t.Run("resend of a sent delivery is refused", func(t *testing.T) {
		if _, err := svc.Resend(ctx, h.tenant.ID, cc.ID, ""); gateway.ErrorKind(err) != gateway.KindConflict {
			t.Errorf("err = %v, want conflict", err)
		}
	})
	t.Run("resend of unknown_outcome sends the archived bytes again", func(t *testing.T) {
		mu.Lock()
		drop = false
		mu.Unlock()
		if _, err := svc.Resend(ctx, h.tenant.ID, to.ID, "customer says nothing arrived"); err != nil {
			t.Fatal(err)
		}
		got := h.waitFinal(r.ID, 30*time.Second)
		var after gateway.Delivery
		for _, d := range got.Deliveries {
			if d.ID == to.ID {
				after = d
			}
		}
		if after.Status != gateway.StatusSent || after.Attempts != 2 || got.Status != gateway.StatusSent {
			t.Errorf("after resend: %s attempts %d invoice %s; want sent, 2, sent", after.Status, after.Attempts, got.Status)
		}
		eml := h.archived(after)
		n := 0
		tr.mu.Lock()
		for _, m := range tr.msgs {
			if m.To[0] == to.Recipient.Email {
				n++
				if !bytes.Equal(m.Data, eml) {
					t.Errorf("a transfer to the contact differs from the archived message")
				}
			}
		}
		tr.mu.Unlock()
		if n != 2 {
			t.Errorf("transfers to the contact = %d, want 2 (the dropped one and the resend)", n)
		}
		if evs := h.events(r.ID, gateway.EventResendRequested); len(evs) != 1 || evs[0]["previous_status"] != "unknown_outcome" {
			t.Errorf("resend events = %v", evs)
		}
	})
	t.Run("redirect sends the archived invoice to another contact as a new delivery", func(t *testing.T) {
		if _, err := svc.Redirect(ctx, h.tenant.ID, r.ID, gateway.Contact{Email: "not an address"}); gateway.ErrorKind(err) != gateway.KindInvalid {
			t.Errorf("bad address: err = %v, want invalid", err)
		}
		d, err := svc.Redirect(ctx, h.tenant.ID, r.ID, gateway.Contact{Name: "John Roe", Email: "john.roe@globex.test"})
		if err != nil {
			t.Fatal(err)
		}
		got := h.waitFinal(r.ID, 30*time.Second)
		if len(got.Deliveries) != 3 {
			t.Fatalf("deliveries = %d, want 3", len(got.Deliveries))
		}
		for _, x := range got.Deliveries {
			if x.ID == d.ID && (x.Status != gateway.StatusSent || x.Message == nil) {
				t.Errorf("redirected delivery = %+v, want sent with its own archived message", x)
			}
		}
		if got.PDF == nil || firstPDF == nil || *got.PDF != *firstPDF {
			t.Errorf("PDF = %+v, want the archived %+v", got.PDF, firstPDF)
		}
		if len(h.events(r.ID, gateway.EventRendered)) != 1 {
			t.Errorf("the PDF was rendered more than once")
		}
	})
}

// A tenant that asks for read receipts gets them at the delivery's VERP address,
// where the inbound listener records them as read_receipt events.
func TestReadReceiptGoesToTheBounceAddress(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []catcher.Message
	srv := catcher.MustStart(t, catcher.Options{Reply: func(n int, m catcher.Message) catcher.Outcome {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		return catcher.Outcome{}
	}})
	h := newHarness(t, harnessOptions{mailer: relayTo(srv.Addr(), 5*time.Second)})
	if err := h.db.SetDeliverySettings(context.Background(), h.tenant.ID, gateway.DeliverySettings{ReadReceipt: true}); err != nil {
		t.Fatal(err)
	}
	r := h.waitFinal(h.accept().ID, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("messages = %d, want 1", len(got))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	want := "bounce+" + r.Deliveries[0].BounceToken + "@" + bounceDomain
	if h := msg.Header.Get("Disposition-Notification-To"); !strings.Contains(h, want) {
		t.Errorf("Disposition-Notification-To = %q, want %s", h, want)
	}
	if got[0].From != want {
		t.Errorf("envelope sender = %q, want %s", got[0].From, want)
	}
}
