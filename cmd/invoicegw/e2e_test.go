package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// exampleInvoice is the invoice `make run` tells a new user to send: the tests
// prove the documented example works.
var exampleInvoice = func() string {
	b, err := os.ReadFile("../../deployments/local/example-invoice.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// gw is a gateway started in-process with run(), exactly as `invoicegw serve` starts.
type gw struct {
	t      testing.TB
	base   string
	env    map[string]string
	smtp   *catcher.Server
	apiKey string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startGateway(t testing.TB, env ...string) *gw {
	t.Helper()
	extra := map[string]string{}
	for i := 0; i+1 < len(env); i += 2 {
		extra[env[i]] = env[i+1]
	}
	return startGatewayWith(t, extra)
}

// gatewayEnv is the environment every test gateway starts from: a bucket of its
// own, the test Redis, smtpAddr as its relay and a free loopback address to serve on.
func gatewayEnv(t testing.TB, dbURL, smtpAddr string) (addr string, env map[string]string) {
	t.Helper()
	s3 := archivetest.Config(t)
	redisURL := os.Getenv("INVOICEGW_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	addr = freeAddr(t)
	return addr, map[string]string{
		"INVOICEGW_HTTP_ADDR":     addr,
		"INVOICEGW_PUBLIC_URL":    "http://" + addr,
		"INVOICEGW_DATABASE_URL":  dbURL,
		"INVOICEGW_REDIS_URL":     redisURL,
		"INVOICEGW_S3_ENDPOINT":   s3.Endpoint,
		"INVOICEGW_S3_REGION":     s3.Region,
		"INVOICEGW_S3_BUCKET":     s3.Bucket,
		"INVOICEGW_S3_ACCESS_KEY": s3.AccessKey,
		"INVOICEGW_S3_SECRET_KEY": s3.SecretKey,
		"INVOICEGW_SMTP_URL":      "smtp://" + smtpAddr + "?starttls=none",
		"INVOICEGW_MAIL_FROM":     "invoices@acme.test",
		"INVOICEGW_LOG_LEVEL":     "warn",
		"INVOICEGW_RETRY_BASE":    "200ms",
		"INVOICEGW_SIGNING_KEY":   testSigningKey,
		"INVOICEGW_HIT_LOG_DIR":   filepath.Join(t.TempDir(), "hitlog"),
		// Tests post faster than the default 100/s per key; the rate-limit test sets its own.
		"INVOICEGW_RATE_LIMIT": "100000",
	}
}

// startGatewayWith starts a gateway whose environment is the default one with extra
// variables added or replaced.
func startGatewayWith(t testing.TB, extra map[string]string) *gw {
	t.Helper()
	_, dbURL := pgtest.MustOpen(t)
	smtpSrv, err := catcher.Start("127.0.0.1:0", catcher.Options{})
	if err != nil {
		t.Fatalf("start smtp server: %v", err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	addr, env := gatewayEnv(t, dbURL, smtpSrv.Addr())
	g := &gw{t: t, base: "http://" + addr, smtp: smtpSrv, env: env}
	g.env["INVOICEGW_LOG_LEVEL"] = "debug"
	g.env["INVOICEGW_MAILGUN_SIGNING_KEY"] = e2eMailgunKey // events_e2e_test.go
	g.env["INVOICEGW_WEBHOOK_ALLOW_PRIVATE"] = "true"      // receivers run on loopback
	g.env["INVOICEGW_BOUNCE_DOMAIN"], g.env["INVOICEGW_INBOUND_SMTP_ADDR"] = "gw.test", freeAddr(t)
	// Bundles in tests carry a checkpoint.
	g.env["INVOICEGW_CHECKPOINT_INTERVAL"] = "1s"
	for k, v := range extra {
		g.env[k] = v
	}
	g.apiKey = g.createTenant("Acme Supplies GmbH")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { done <- run(ctx, []string{"serve"}, g.getenv, nil, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(g.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			done <- err // for the cleanup, which waits for run to return
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g
}

func (g *gw) getenv(k string) string { return g.env[k] }

func (g *gw) createTenant(name string) string {
	g.t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tenant", "create", "--name", name}, g.getenv, nil, &out, &errOut); err != nil {
		g.t.Fatalf("tenant create: %v %s", err, errOut.String())
	}
	var res struct {
		TenantID string `json:"tenant_id"`
		APIKey   string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || !strings.HasPrefix(res.TenantID, "ten_") || !strings.HasPrefix(res.APIKey, "igw_") {
		g.t.Fatalf("tenant create printed %q (%v), want {tenant_id: ten_..., api_key: igw_...}", out.String(), err)
	}
	return res.APIKey
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (g *gw) do(method, path, key, contentType string, body string) response {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (g *gw) postInvoice(key, body string) response {
	g.t.Helper()
	return g.do("POST", "/v1/invoices", key, "application/json", body)
}

type invoiceJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Totals struct {
		Subtotal  string `json:"subtotal"`
		Tax       string `json:"tax"`
		Total     string `json:"total"`
		AmountDue string `json:"amount_due"`
	} `json:"totals"`
	PDF *struct {
		Key, SHA256 string
	} `json:"pdf"`
}

type eventJSON struct {
	Type   string         `json:"type"`
	Level  int            `json:"level"`
	At     time.Time      `json:"at"`
	Detail map[string]any `json:"detail"`
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func (g *gw) waitStatus(id, want string) invoiceJSON {
	g.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := g.do("GET", "/v1/invoices/"+id, g.apiKey, "", "")
		inv := decode[invoiceJSON](g.t, r.body)
		if inv.Status == want {
			return inv
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("invoice %s status %q after 60s, want %q", id, inv.Status, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (g *gw) events(id string) []eventJSON {
	g.t.Helper()
	r := g.do("GET", "/v1/invoices/"+id+"/events", g.apiKey, "", "")
	if r.status != 200 {
		g.t.Fatalf("events: %d %s", r.status, r.body)
	}
	return decode[struct{ Events []eventJSON }](g.t, r.body).Events
}

// waitEvents waits until the invoice has n events of type typ: pixel hits reach the
// store through the hit log's drainer, a few milliseconds after the pixel answered.
func (g *gw) waitEvents(id, typ string, n int) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		for _, e := range g.events(id) {
			if e.Type == typ {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("invoice %s has %d %s events after 10s, want %d", id, got, typ, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pdfText extracts a PDF's text with poppler's pdftotext, as a reader's tools would.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		servicetest.Unavailable(t, fmt.Sprintf("pdftotext (Debian poppler-utils) missing (%v): run `make test`, which installs it", err))
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var (
	linkRE  = regexp.MustCompile(`href="(http://[^"]+/t/l/[A-Za-z0-9_-]+)"`)
	pixelRE = regexp.MustCompile(`src="(http://[^"]+/t/o/[A-Za-z0-9_-]+\.gif)"`)
)

func TestEndToEndInvoiceIsSentTrackedAndProven(t *testing.T) {
	g := startGateway(t)
	g.setTracking(g.apiKey, "full") // new tenants track nothing until they choose

	r := g.postInvoice(g.apiKey, exampleInvoice)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /v1/invoices = %d %s, want 202", r.status, r.body)
	}
	accepted := decode[invoiceJSON](t, r.body)
	if accepted.Status != "queued" || !strings.HasPrefix(accepted.ID, "inv_") {
		t.Errorf("accepted = %+v, want status queued and an inv_ id", accepted)
	}
	if got := accepted.Totals; got.Subtotal != "59.97" || got.Tax != "11.39" || got.Total != "71.36" || got.AmountDue != "71.36" {
		t.Errorf("totals = %+v, want subtotal 59.97 tax 11.39 total 71.36", got)
	}
	if loc := r.header.Get("Location"); loc != "/v1/invoices/"+accepted.ID {
		t.Errorf("Location = %q", loc)
	}

	sent := g.waitStatus(accepted.ID, "sent")

	// The message as the recipient's mail client sees it.
	msgs, err := g.smtp.Wait(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("smtp server got %d messages, want 1", len(msgs))
	}
	if msgs[0].To[0] != "jane.doe@globex.test" {
		t.Errorf("envelope recipient = %v", msgs[0].To)
	}
	mr, err := mail.CreateReader(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	to, _ := mr.Header.AddressList("To")
	if len(to) != 1 || to[0].Name != "Jane Doe" || to[0].Address != "jane.doe@globex.test" {
		t.Errorf("To = %v, want Jane Doe <jane.doe@globex.test>", to)
	}
	subject, _ := mr.Header.Subject()
	if !strings.Contains(subject, "INV-2026-0042") {
		t.Errorf("Subject = %q, want the invoice number", subject)
	}
	var html string
	var attachment []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		body, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); ct == "text/html" {
				html = string(body)
			}
		case *mail.AttachmentHeader:
			if ct, _, _ := h.ContentType(); ct == "application/pdf" {
				attachment = body
			}
		}
	}
	link := visibleLink(html) // the first /t/l/ link is the hidden honeypot
	pixel := pixelRE.FindStringSubmatch(html)
	if link == nil || pixel == nil {
		t.Fatalf("HTML lacks the tracked link or the pixel:\n%s", html)
	}
	if attachment == nil {
		t.Fatal("no PDF attachment")
	}

	// The archived PDF is exactly the attachment, and its hash is the recorded one.
	pdfResp := g.do("GET", "/v1/invoices/"+accepted.ID+"/pdf", g.apiKey, "", "")
	if pdfResp.status != 200 || pdfResp.header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET pdf = %d %s", pdfResp.status, pdfResp.header.Get("Content-Type"))
	}
	if !bytes.Equal(pdfResp.body, attachment) {
		t.Error("archived PDF differs from the attachment that was sent")
	}
	if got := pdfResp.header.Get("X-Content-SHA256"); got != sha(attachment) || sent.PDF == nil || sent.PDF.SHA256 != got {
		t.Errorf("X-Content-SHA256 = %q, sha256(attachment) = %q, invoice pdf = %+v", got, sha(attachment), sent.PDF)
	}
	text := pdfText(t, attachment)
	for _, want := range []string{"INV-2026-0042", "Jane Doe", "Payment due within 30 days of the invoice date.", "Late payments accrue 1% interest per month.", "71.36"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}

	// The recipient's side: pixel, link, hosted page, download.
	path := func(u string) string { return strings.TrimPrefix(u, g.base) }
	px := g.do("GET", path(pixel[1]), "", "", "")
	if px.status != 200 || px.header.Get("Content-Type") != "image/gif" || !strings.Contains(px.header.Get("Cache-Control"), "no-store") {
		t.Errorf("pixel = %d %q %q", px.status, px.header.Get("Content-Type"), px.header.Get("Cache-Control"))
	}
	click := g.do("GET", path(link[1]), "", "", "")
	token := strings.TrimPrefix(path(link[1]), "/t/l/")
	if click.status != http.StatusSeeOther || click.header.Get("Location") != "/i/"+token {
		t.Fatalf("link = %d Location %q, want 303 to the hosted page", click.status, click.header.Get("Location"))
	}
	page := g.do("GET", "/i/"+token, "", "", "")
	for _, want := range []string{"INV-2026-0042", "71.36", "2026-12-23", "/i/" + token + "/pdf"} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("hosted page lacks %q", want)
		}
	}
	dl := g.do("GET", "/i/"+token+"/pdf", "", "", "")
	if dl.status != 200 || !bytes.Equal(dl.body, attachment) {
		t.Errorf("download = %d, %d bytes; want the archived PDF", dl.status, len(dl.body))
	}
	if _, params, _ := mime.ParseMediaType(dl.header.Get("Content-Disposition")); params["filename"] != "invoice-INV-2026-0042.pdf" {
		t.Errorf("download Content-Disposition = %q", dl.header.Get("Content-Disposition"))
	}

	// Forged tokens: the pixel still answers with the image, links go nowhere.
	forged := strings.Repeat("A", 43)
	if r := g.do("GET", "/t/o/"+forged+".gif", "", "", ""); r.status != 200 || r.header.Get("Content-Type") != "image/gif" {
		t.Errorf("forged pixel = %d %q, want 200 image/gif", r.status, r.header.Get("Content-Type"))
	}
	for _, p := range []string{"/t/l/" + forged, "/t/l/garbage", "/i/" + forged, "/t/l/" + strings.TrimPrefix(path(pixel[1]), "/t/o/")} {
		if r := g.do("GET", strings.TrimSuffix(p, ".gif"), "", "", ""); r.status != 404 || r.header.Get("Location") != "" {
			t.Errorf("GET %s = %d Location %q, want 404 and no redirect", p, r.status, r.header.Get("Location"))
		}
	}

	// The timeline, oldest first, with evidence levels.
	evs := g.events(accepted.ID)
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s/%d", e.Type, e.Level))
	}
	// archived twice: the PDF, then the exact message sent.
	want := []string{"accepted/0", "rendered/1", "archived/1", "archived/1", "sent/2", "opened/4", "clicked/5", "viewed/5", "downloaded/5"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("timeline = %v\nwant       %v", got, want)
	}
	for _, e := range evs {
		switch e.Type {
		case "sent":
			if reply, _ := e.Detail["reply"].(string); !strings.HasPrefix(reply, "2.0.0 Ok: queued as ") {
				t.Errorf("sent reply = %q, want the server's 250 text", reply)
			}
		case "archived":
			want := sha(attachment)
			if e.Detail["content_type"] == "message/rfc822" {
				want = sha(msgs[0].Data) // the archived message is byte for byte what SMTP got
			}
			if e.Detail["sha256"] != want {
				t.Errorf("archived %v sha256 = %v, want %s", e.Detail["content_type"], e.Detail["sha256"], want)
			}
		case "opened":
			if e.Detail["classification"] == nil {
				t.Errorf("opened event lacks a classification: %v", e.Detail)
			}
		}
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].At.Before(evs[i-1].At) {
			t.Errorf("event %d (%s) is older than event %d", i, evs[i].Type, i-1)
		}
	}

	if r := g.do("GET", "/readyz", "", "", ""); r.status != 200 {
		t.Errorf("/readyz = %d %s", r.status, r.body)
	}
}

func TestAPIRefusesBadRequestsAndChangesNothing(t *testing.T) {
	g := startGateway(t)
	first := g.postInvoice(g.apiKey, exampleInvoice)
	if first.status != 202 {
		t.Fatalf("first POST = %d %s", first.status, first.body)
	}
	firstID := decode[invoiceJSON](t, first.body).ID
	otherKey := g.createTenant("Other tenant")

	type problem struct {
		Type      string `json:"type"`
		Status    int    `json:"status"`
		InvoiceID string `json:"invoice_id"`
		Errors    []struct{ Field, Code string }
	}
	badInvoice := strings.NewReplacer(
		`"quantity": "3"`, `"quantity": "-3"`,
		`"currency": "EUR"`, `"currency": "XXY"`,
		`"name": "Jane Doe"`, `"name": "Jane\r\nBcc: victim@evil.test"`,
		`"email": "jane.doe@globex.test"`, `"email": "not-an-address"`,
		`"due_date": "2026-12-23"`, `"due_date": "2026-11-01"`,
		`"terms": "Payment due`, `"notes": "x", "terms": "Payment due`,
	).Replace(exampleInvoice)
	noTerms := strings.Replace(exampleInvoice, `"terms": "Payment due within 30 days of the invoice date. Late payments accrue 1% interest per month.",`, "", 1)
	noTerms = strings.Replace(noTerms, `"INV-2026-0042"`, `"INV-NO-TERMS"`, 1)

	tests := []struct {
		name        string
		method      string
		path        string
		key         string
		contentType string
		body        string
		status      int
		problemType string
		fields      []string
	}{
		{"rejects a request without a key", "POST", "/v1/invoices", "", "application/json", exampleInvoice, 401, "unauthorized", nil},
		{"rejects a forged key", "POST", "/v1/invoices", "igw_" + strings.Repeat("a", 46), "application/json", exampleInvoice, 401, "unauthorized", nil},
		{"rejects malformed JSON with its position", "POST", "/v1/invoices", g.apiKey, "application/json", `{"number": "X",}`, 400, "malformed-request", nil},
		{"rejects a wrong content type", "POST", "/v1/invoices", g.apiKey, "text/plain", exampleInvoice, 415, "unsupported-media-type", nil},
		{"rejects a body over the limit", "POST", "/v1/invoices", g.apiKey, "application/json", `{"notes":"` + strings.Repeat("x", 11<<20) + `"}`, 413, "body-too-large", nil},
		{"names every bad field at once", "POST", "/v1/invoices", g.apiKey, "application/json", badInvoice, 422, "validation-error",
			[]string{"currency", "customer.contact.name", "customer.contact.email", "due_date", "lines[0].quantity"}},
		{"refuses an invoice without terms", "POST", "/v1/invoices", g.apiKey, "application/json", noTerms, 422, "validation-error", []string{"terms"}},
		{"refuses a second invoice with the same number, naming the first", "POST", "/v1/invoices", g.apiKey, "application/json", exampleInvoice, 409, "conflict", nil},
		{"hides another tenant's invoice", "GET", "/v1/invoices/" + firstID, otherKey, "", "", 404, "not-found", nil},
		{"hides another tenant's events", "GET", "/v1/invoices/" + firstID + "/events", otherKey, "", "", 404, "not-found", nil},
		{"hides another tenant's pdf", "GET", "/v1/invoices/" + firstID + "/pdf", otherKey, "", "", 404, "not-found", nil},
		{"answers garbage ids with not found", "GET", "/v1/invoices/'; DROP TABLE invoices;--", g.apiKey, "", "", 404, "not-found", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do(tc.method, strings.ReplaceAll(tc.path, " ", "%20"), tc.key, tc.contentType, tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			p := decode[problem](t, r.body)
			if p.Type != "https://invoicegw.dev/problems/"+tc.problemType || p.Status != tc.status {
				t.Errorf("problem = %+v, want type %s", p, tc.problemType)
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			for _, f := range tc.fields {
				if !strings.Contains(" "+strings.Join(fields, " ")+" ", " "+f+" ") {
					t.Errorf("errors name %v, want %q among them", fields, f)
				}
			}
			if tc.status == 409 && p.InvoiceID != firstID {
				t.Errorf("conflict names %q, want %q", p.InvoiceID, firstID)
			}
		})
	}

	t.Run("rejects a chunked body over the limit with 413, not 400", func(t *testing.T) {
		// No Content-Length: the limit can only be found while reading.
		body := io.MultiReader(strings.NewReader(`{"notes":"`), strings.NewReader(strings.Repeat("x", 11<<20)), strings.NewReader(`"}`))
		req, err := http.NewRequest("POST", g.base+"/v1/invoices", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+g.apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("status = %d %q %s, want 413 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	})

	// Nothing the refused requests carried was stored or sent.
	g.waitStatus(firstID, "sent")
	time.Sleep(300 * time.Millisecond)
	if n := len(g.smtp.Messages()); n != 1 {
		t.Errorf("smtp server got %d messages, want exactly 1 (the first invoice)", n)
	}
}

func TestServeNamesTheMissingVariable(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "INVOICEGW_") {
		t.Fatalf("serve without configuration: err = %v, want one naming an INVOICEGW_ variable", err)
	}
}

// syncBuffer collects the gateway's log safely from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
