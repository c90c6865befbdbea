package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/invoicegw/invoicegw/gateway/httpapi/openapitest"
	"github.com/jackc/pgx/v5"
)

// mutate returns the example invoice with one change applied to its decoded form.
func mutate(t *testing.T, f func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(exampleInvoice), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// at walks a path like "customer.contact" and returns the object there.
func at(m map[string]any, path string) map[string]any {
	cur := m
	if path == "" {
		return cur
	}
	for _, k := range strings.Split(path, ".") {
		if strings.HasSuffix(k, "[0]") {
			cur = cur[strings.TrimSuffix(k, "[0]")].([]any)[0].(map[string]any)
			continue
		}
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	return cur
}

func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		i := strings.LastIndex(path, ".")
		parent, key := "", path
		if i >= 0 {
			parent, key = path[:i], path[i+1:]
		}
		at(m, parent)[key] = v
	}
}

func del(path string) func(map[string]any) {
	return func(m map[string]any) {
		i := strings.LastIndex(path, ".")
		parent, key := "", path
		if i >= 0 {
			parent, key = path[:i], path[i+1:]
		}
		delete(at(m, parent), key)
	}
}

// stored counts what a request could have left behind.
type stored struct {
	invoices, deliveries, events, jobs, keys, attachments, objects, mails int
}

func (g *gw) stored(ctx context.Context) stored {
	g.t.Helper()
	conn, err := pgx.Connect(ctx, g.env["INVOICEGW_DATABASE_URL"])
	if err != nil {
		g.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s stored
	for q, dst := range map[string]*int{
		"SELECT count(*) FROM invoices": &s.invoices, "SELECT count(*) FROM deliveries": &s.deliveries,
		"SELECT count(*) FROM events": &s.events, "SELECT count(*) FROM river_job": &s.jobs,
		"SELECT count(*) FROM idempotency_keys": &s.keys, "SELECT count(*) FROM invoice_attachments": &s.attachments,
	} {
		if err := conn.QueryRow(ctx, q).Scan(dst); err != nil {
			g.t.Fatalf("%s: %v", q, err)
		}
	}
	client := s3.New(s3.Options{Region: g.env["INVOICEGW_S3_REGION"], UsePathStyle: true,
		BaseEndpoint: aws.String(g.env["INVOICEGW_S3_ENDPOINT"]),
		Credentials:  credentials.NewStaticCredentialsProvider(g.env["INVOICEGW_S3_ACCESS_KEY"], g.env["INVOICEGW_S3_SECRET_KEY"], "")})
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(g.env["INVOICEGW_S3_BUCKET"])})
	if err != nil {
		g.t.Fatalf("list bucket: %v", err)
	}
	s.objects = len(out.Contents)
	s.mails = len(g.smtp.Messages())
	return s
}

func (g *gw) request(method, path, key string, header map[string]string, body []byte) response {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return response{resp.StatusCode, resp.Header, buf.Bytes()}
}

type problemJSON struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	InvoiceID string `json:"invoice_id"`
	Errors    []struct{ Field, Code string }
}

var pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")

func TestHostileCorpusIsRefusedAndChangesNothing(t *testing.T) {
	g := startGateway(t)
	doc := openapitest.Load(t)
	long := strings.Repeat("x", 300)
	type tc struct {
		name   string
		body   string
		status int
		ptype  string
		fields []string
	}
	inv := func(name string, f func(map[string]any), fields ...string) tc {
		return tc{name, mutate(t, f), 422, "validation-error", fields}
	}
	lines := func(n int) []any {
		var ls []any
		for range n {
			ls = append(ls, map[string]any{"description": "W", "quantity": "1", "unit_price": "1.00", "tax_rate": "19"})
		}
		return ls
	}
	ccs := func(n int) []any {
		var cs []any
		for i := range n {
			cs = append(cs, map[string]any{"email": fmt.Sprintf("cc%d@globex.test", i)})
		}
		return cs
	}
	cases := []tc{
		inv("number missing", del("number"), "number"),
		inv("number empty", set("number", ""), "number"),
		inv("number too long", set("number", long), "number"),
		inv("number with CR LF", set("number", "INV-1\r\nBcc: x@evil.test"), "number"),
		inv("number with a control character", set("number", "INV\x00-1"), "number"),
		inv("number as a JSON number", set("number", 42), "number"),
		inv("issue_date missing", del("issue_date"), "issue_date"),
		inv("issue_date month 13", set("issue_date", "2026-13-01"), "issue_date"),
		inv("issue_date in German notation", set("issue_date", "23.11.2026"), "issue_date"),
		inv("issue_date as a number", set("issue_date", 20261123), "issue_date"),
		inv("due_date before issue_date", set("due_date", "2026-11-01"), "due_date"),
		inv("due_date garbage", set("due_date", "soon"), "due_date"),
		inv("currency unknown", set("currency", "XXY"), "currency"),
		inv("currency lower case", set("currency", "eur"), "currency"),
		inv("currency empty", set("currency", ""), "currency"),
		inv("currency four letters", set("currency", "EURO"), "currency"),
		inv("locale unsupported", set("locale", "xx"), "locale"),
		inv("seller name empty", set("seller.name", ""), "seller.name"),
		inv("seller name with CR LF", set("seller.name", "Acme\r\nBcc: x@evil.test"), "seller.name"),
		inv("seller name too long", set("seller.name", long), "seller.name"),
		inv("seller email not an address", set("seller.email", "not-an-address"), "seller.email"),
		inv("seller email with header injection", set("seller.email", "billing@acme.test\r\nBcc: x@evil.test"), "seller.email"),
		inv("seller email two at signs", set("seller.email", "a@b@acme.test"), "seller.email"),
		inv("seller country a name", set("seller.address.country", "Germany"), "seller.address.country"),
		inv("seller website javascript", set("seller.website", "javascript:alert(1)"), "seller.website"),
		inv("seller logo not an image", set("seller.logo", map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("hello"))}), "seller.logo.data"),
		inv("customer id empty", set("customer.id", ""), "customer.id"),
		inv("customer name empty", set("customer.name", ""), "customer.name"),
		inv("contact name with CR LF", set("customer.contact.name", "Jane\r\nBcc: victim@evil.test"), "customer.contact.name"),
		inv("contact email empty", set("customer.contact.email", ""), "customer.contact.email"),
		inv("contact email without domain", set("customer.contact.email", "jane@"), "customer.contact.email"),
		inv("contact email with display name", set("customer.contact.email", "Jane Doe <jane@globex.test>"), "customer.contact.email"),
		inv("contact email local part only", set("customer.contact.email", "jane"), "customer.contact.email"),
		inv("cc email bad", set("customer.cc", []any{map[string]any{"email": "nope"}}), "customer.cc[0].email"),
		inv("cc duplicates the contact", set("customer.cc", []any{map[string]any{"email": "jane.doe@globex.test"}}), "customer.cc[0].email"),
		inv("too many cc", set("customer.cc", ccs(11)), "customer.cc"),
		inv("no lines", set("lines", []any{}), "lines"),
		inv("lines missing", del("lines"), "lines"),
		inv("too many lines", set("lines", lines(1001)), "lines"),
		inv("quantity negative", set("lines[0].quantity", "-3"), "lines[0].quantity"),
		inv("quantity with exponent", set("lines[0].quantity", "1e3"), "lines[0].quantity"),
		inv("quantity NaN", set("lines[0].quantity", "NaN"), "lines[0].quantity"),
		inv("quantity Infinity", set("lines[0].quantity", "Infinity"), "lines[0].quantity"),
		inv("quantity empty", set("lines[0].quantity", ""), "lines[0].quantity"),
		inv("quantity zero", set("lines[0].quantity", "0"), "lines[0].quantity"),
		inv("quantity absurd", set("lines[0].quantity", "1000000000000"), "lines[0].quantity"),
		inv("quantity five decimals", set("lines[0].quantity", "1.23456"), "lines[0].quantity"),
		inv("quantity a boolean", set("lines[0].quantity", true), "lines[0].quantity"),
		inv("unit price three decimals in EUR", set("lines[0].unit_price", "19.999"), "lines[0].unit_price"),
		inv("unit price with exponent", set("lines[0].unit_price", "2e1"), "lines[0].unit_price"),
		inv("unit price negative", set("lines[0].unit_price", "-1.00"), "lines[0].unit_price"),
		inv("unit price text", set("lines[0].unit_price", "abc"), "lines[0].unit_price"),
		inv("unit price absurd", set("lines[0].unit_price", "99999999999999999"), "lines[0].unit_price"),
		inv("tax rate negative", set("lines[0].tax_rate", "-1"), "lines[0].tax_rate"),
		inv("tax rate over 100", set("lines[0].tax_rate", "101"), "lines[0].tax_rate"),
		inv("discount over 100 percent", set("lines[0].discount_percent", "150"), "lines[0].discount_percent"),
		inv("tax category unknown", set("lines[0].tax_category", "X"), "lines[0].tax_category"),
		inv("line description empty", set("lines[0].description", ""), "lines[0].description"),
		inv("adjustment kind unknown", set("adjustments", []any{map[string]any{"kind": "bonus", "reason": "x", "amount": "1.00", "tax_rate": "19"}}), "adjustments[0].kind"),
		inv("iban check sum wrong", set("payment.iban", "DE89370400440532013001"), "payment.iban"),
		inv("bic malformed", set("payment.bic", "XX"), "payment.bic"),
		inv("payment link not https", set("payment.link", "http://pay.acme.test/x"), "payment.link"),
		inv("routing number without account", set("payment.routing_number", "021000021"), "payment.routing_number"),
		inv("net days negative", set("payment_terms", map[string]any{"net_days": -1}), "payment_terms.net_days"),
		inv("amount paid text", set("amount_paid", "abc"), "amount_paid"),
		inv("client total differs", set("totals", map[string]any{"total": "1.00"}), "totals.total"),
		inv("attachment not base64", set("attachments", []any{map[string]any{"filename": "a.pdf", "data": "%%%"}}), "attachments[0].data"),
		inv("attachment plain text", set("attachments", []any{map[string]any{"filename": "a.pdf", "data": base64.StdEncoding.EncodeToString([]byte("just text"))}}), "attachments[0].data"),
		inv("attachment path in filename", set("attachments", []any{map[string]any{"filename": "../../etc/passwd", "data": base64.StdEncoding.EncodeToString(pdfBytes)}}), "attachments[0].filename"),
		inv("attachment key sent by the client", set("attachments", []any{map[string]any{"filename": "a.pdf", "key": "x", "data": base64.StdEncoding.EncodeToString(pdfBytes)}}), "attachments[0]"),
		inv("terms with NUL", set("terms", "Pay\x00now"), "terms"),
		inv("unknown field", set("foo", 1), "foo"),
		inv("no terms anywhere", del("terms"), "terms"),
		inv("many fields wrong at once", func(m map[string]any) {
			set("currency", "XXY")(m)
			set("lines[0].quantity", "-1")(m)
			set("customer.contact.email", "x")(m)
		}, "currency", "lines[0].quantity", "customer.contact.email"),
		{"malformed JSON trailing comma", `{"number": "X",}`, 400, "malformed-request", nil},
		{"malformed JSON truncated", exampleInvoice[:100], 400, "malformed-request", nil},
		{"two JSON objects", exampleInvoice + exampleInvoice, 400, "malformed-request", nil},
		{"an array body", `[1, 2]`, 400, "malformed-request", nil},
		{"an empty body", ``, 400, "malformed-request", nil},
	}
	if len(cases) < 60 {
		t.Fatalf("corpus has %d cases, want at least 60", len(cases))
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/v1/invoices"
			r := g.request("POST", path, g.apiKey, map[string]string{"Content-Type": "application/json",
				"Idempotency-Key": fmt.Sprintf("hostile-%d", i)}, []byte(c.body))
			checkProblem(t, r, c.status, c.ptype, c.fields)
			if err := doc.ValidateResponse("POST", path, r.status, r.header.Get("Content-Type"), r.body); err != nil {
				t.Errorf("response does not match the OpenAPI document: %v", err)
			}
			// The same invoice inside a batch is refused the same way, alone.
			if c.status == 422 {
				br := g.request("POST", "/v1/invoices/batch", g.apiKey, map[string]string{"Content-Type": "application/json"},
					[]byte(`{"invoices": [`+c.body+`]}`))
				if br.status != 207 {
					t.Fatalf("batch status = %d %s, want 207", br.status, br.body)
				}
				res := decode[struct{ Results []struct{ Status int } }](t, br.body)
				if len(res.Results) != 1 || res.Results[0].Status != 422 {
					t.Errorf("batch results = %+v, want one 422", res.Results)
				}
			}
		})
	}
	other := []struct {
		name       string
		key, ctype string
		idem       string
		body       string
		status     int
		ptype      string
	}{
		{"no key", "", "application/json", "", exampleInvoice, 401, "unauthorized"},
		{"key with a bad checksum", "igw_" + strings.Repeat("a", 46), "application/json", "", exampleInvoice, 401, "unauthorized"},
		{"key of another product", "sk_live_" + strings.Repeat("a", 40), "application/json", "", exampleInvoice, 401, "unauthorized"},
		{"text/plain body", g.apiKey, "text/plain", "", exampleInvoice, 415, "unsupported-media-type"},
		{"no content type", g.apiKey, "", "", exampleInvoice, 415, "unsupported-media-type"},
		{"form body", g.apiKey, "application/x-www-form-urlencoded", "", "number=1", 415, "unsupported-media-type"},
		{"body over the limit", g.apiKey, "application/json", "", `{"notes":"` + strings.Repeat("x", 11<<20) + `"}`, 413, "body-too-large"},
		{"idempotency key too long", g.apiKey, "application/json", strings.Repeat("k", 256), exampleInvoice, 422, "validation-error"},
		{"idempotency key with a space", g.apiKey, "application/json", "a b", exampleInvoice, 422, "validation-error"},
	}
	for _, c := range other {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			if c.ctype != "" {
				h["Content-Type"] = c.ctype
			}
			if c.idem != "" {
				h["Idempotency-Key"] = c.idem
			}
			r := g.request("POST", "/v1/invoices", c.key, h, []byte(c.body))
			checkProblem(t, r, c.status, c.ptype, nil)
		})
	}
	// Bad list queries, terms and keys.
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?status=paid", "?overdue=maybe", "?starting_after=42",
		"?created[gte]=yesterday", "?colour=red", "?created[gte]=2026-02-01&created[lte]=2026-01-01"} {
		t.Run("list "+q, func(t *testing.T) {
			checkProblem(t, g.request("GET", "/v1/invoices"+q, g.apiKey, nil, nil), 422, "validation-error", nil)
		})
	}
	t.Run("empty terms", func(t *testing.T) {
		r := g.request("PUT", "/v1/settings/terms", g.apiKey, map[string]string{"Content-Type": "application/json"}, []byte(`{"text": "  "}`))
		checkProblem(t, r, 422, "validation-error", []string{"text"})
	})
	t.Run("attachment of the wrong type", func(t *testing.T) {
		r := g.upload(g.apiKey, "/v1/invoices/inv_0000000000000000000000000a/attachments", "x.pdf", []byte("text"))
		checkProblem(t, r, 422, "validation-error", []string{"file"})
	})
	t.Run("attachment to an unknown invoice", func(t *testing.T) {
		r := g.upload(g.apiKey, "/v1/invoices/inv_0000000000000000000000000a/attachments", "x.pdf", pdfBytes)
		checkProblem(t, r, 404, "not-found", nil)
	})

	s := g.stored(ctx)
	if s != (stored{}) {
		t.Errorf("refused requests left %+v, want nothing stored, queued, archived or sent", s)
	}
}

func checkProblem(t *testing.T, r response, status int, ptype string, fields []string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	p := decode[problemJSON](t, r.body)
	if p.Type != "https://invoicegw.dev/problems/"+ptype || p.Status != status {
		t.Errorf("problem type %q status %d, want %s %d", p.Type, p.Status, ptype, status)
	}
	var got []string
	for _, e := range p.Errors {
		got = append(got, e.Field)
	}
	for _, f := range fields {
		if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+f+" ") {
			t.Errorf("errors name %v, want %q among them (%s)", got, f, r.body)
		}
	}
	if status == 400 && !strings.Contains(p.Detail, "line") && !strings.Contains(p.Detail, "empty") && !strings.Contains(p.Detail, "exactly one") && !strings.Contains(p.Detail, "object") {
		t.Errorf("malformed-request detail %q gives no position", p.Detail)
	}
}

func (g *gw) upload(key, path, filename string, data []byte) response {
	g.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("file", filename)
	_, _ = fw.Write(data)
	_ = w.WriteField("description", "Signed delivery note")
	_ = w.Close()
	return g.request("POST", path, key, map[string]string{"Content-Type": w.FormDataContentType()}, body.Bytes())
}

func TestIdempotencyKeyGivesOneInvoiceAndOneEmail(t *testing.T) {
	g := startGateway(t)
	const n = 20
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = g.request("POST", "/v1/invoices", g.apiKey,
				map[string]string{"Content-Type": "application/json", "Idempotency-Key": "retry-me-7"}, []byte(exampleInvoice))
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	accepted, replayed := 0, 0
	for _, r := range results {
		switch r.status {
		case 202:
			ids[decode[invoiceJSON](t, r.body).ID] = true
			if r.header.Get("Idempotent-Replayed") == "true" {
				replayed++
			} else {
				accepted++
			}
		case 409:
			if p := decode[problemJSON](t, r.body); p.Type != "https://invoicegw.dev/problems/idempotency-key-in-use" {
				t.Errorf("409 type = %q, want idempotency-key-in-use", p.Type)
			}
		default:
			t.Errorf("status = %d %s, want 202 or 409", r.status, r.body)
		}
	}
	if accepted != 1 || len(ids) != 1 {
		t.Errorf("%d fresh acceptances of %d invoice ids, want exactly 1 of 1", accepted, len(ids))
	}
	var id string
	for k := range ids {
		id = k
	}
	// A later retry is a replay of the very same answer.
	r := g.request("POST", "/v1/invoices", g.apiKey, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "retry-me-7"}, []byte(exampleInvoice))
	if r.status != 202 || r.header.Get("Idempotent-Replayed") != "true" || decode[invoiceJSON](t, r.body).ID != id {
		t.Errorf("retry = %d replayed %q %s, want a 202 replay of %s", r.status, r.header.Get("Idempotent-Replayed"), r.body, id)
	}
	// The same key with another body is refused.
	other := strings.Replace(exampleInvoice, "INV-2026-0042", "INV-2026-0043", 1)
	r = g.request("POST", "/v1/invoices", g.apiKey, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "retry-me-7"}, []byte(other))
	checkProblem(t, r, 422, "idempotency-key-reused", nil)
	// The same number without a key is a conflict naming the invoice.
	r = g.request("POST", "/v1/invoices", g.apiKey, map[string]string{"Content-Type": "application/json"}, []byte(exampleInvoice))
	checkProblem(t, r, 409, "conflict", nil)
	if p := decode[problemJSON](t, r.body); p.InvoiceID != id {
		t.Errorf("conflict names %q, want %q", p.InvoiceID, id)
	}
	g.waitStatus(id, "sent")
	time.Sleep(500 * time.Millisecond)
	if got := len(g.smtp.Messages()); got != 1 {
		t.Errorf("%d e-mails sent, want 1", got)
	}
}

func TestIntakeFeaturesEndToEnd(t *testing.T) {
	g := startGateway(t)
	doc := openapitest.Load(t)
	json := map[string]string{"Content-Type": "application/json"}
	check := func(method, path string, r response) {
		t.Helper()
		if err := doc.ValidateResponse(method, path, r.status, r.header.Get("Content-Type"), r.body); err != nil {
			t.Errorf("%v\n%s", err, r.body)
		}
	}

	// Terms: tenant default, then a customer's default, both versioned.
	noTerms := mutate(t, del("terms"))
	r := g.request("PUT", "/v1/settings/terms", g.apiKey, json, []byte(`{"text": "Tenant terms v1"}`))
	check("PUT", "/v1/settings/terms", r)
	v1 := decode[struct{ ID string }](t, r.body).ID
	if r.status != 201 || !strings.HasPrefix(v1, "trm_") {
		t.Fatalf("PUT terms = %d %s", r.status, r.body)
	}
	r = g.request("POST", "/v1/invoices", g.apiKey, json, []byte(noTerms))
	check("POST", "/v1/invoices", r)
	got := decode[struct{ ID, TermsVersion, TermsSource string }](t, r.body)
	if r.status != 202 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	rr := decode[map[string]any](t, r.body)
	if rr["terms_version"] != v1 || rr["terms_source"] != "tenant" {
		t.Errorf("terms_version %v source %v, want %s tenant", rr["terms_version"], rr["terms_source"], v1)
	}
	r = g.request("PUT", "/v1/customers/CUST-7/terms", g.apiKey, json, []byte(`{"text": "Globex terms"}`))
	check("PUT", "/v1/customers/CUST-7/terms", r)
	cv := decode[struct{ ID string }](t, r.body).ID
	r = g.request("POST", "/v1/invoices", g.apiKey, json, []byte(mutate(t, func(m map[string]any) { del("terms")(m); set("number", "INV-C")(m) })))
	rr = decode[map[string]any](t, r.body)
	if rr["terms_version"] != cv || rr["terms_source"] != "customer" {
		t.Errorf("terms_version %v source %v, want %s customer", rr["terms_version"], rr["terms_source"], cv)
	}
	r = g.request("GET", "/v1/settings/terms", g.apiKey, nil, nil)
	check("GET", "/v1/settings/terms", r)

	// Attachments: archived with their hash, listed, never kept as bytes in the document.
	withAtt := mutate(t, func(m map[string]any) {
		set("number", "INV-ATT")(m)
		set("attachments", []any{map[string]any{"filename": "delivery-note.pdf", "description": "Signed", "data": base64.StdEncoding.EncodeToString(pdfBytes)}})(m)
	})
	r = g.request("POST", "/v1/invoices", g.apiKey, json, []byte(withAtt))
	check("POST", "/v1/invoices", r)
	if r.status != 202 || bytes.Contains(r.body, []byte(base64.StdEncoding.EncodeToString(pdfBytes))) {
		t.Errorf("POST with attachment = %d, body carries the bytes: %v", r.status, bytes.Contains(r.body, []byte("JVBER")))
	}
	attID := decode[invoiceJSON](t, r.body).ID
	up := g.upload(g.apiKey, "/v1/invoices/"+attID+"/attachments", "photo.pdf", pdfBytes)
	check("POST", "/v1/invoices/"+attID+"/attachments", up)
	if up.status != 201 {
		t.Fatalf("upload = %d %s", up.status, up.body)
	}
	r = g.request("GET", "/v1/invoices/"+attID, g.apiKey, nil, nil)
	check("GET", "/v1/invoices/"+attID, r)
	atts := decode[struct {
		Attachments []struct {
			N                     int
			Filename, SHA256, Key string
		}
	}](t, r.body).Attachments
	if len(atts) != 2 || atts[0].SHA256 != sha(pdfBytes) || !strings.Contains(atts[0].Key, "/attachments/1-delivery-note.pdf") || atts[1].Filename != "photo.pdf" {
		t.Errorf("attachments = %+v", atts)
	}
	archived := 0
	for _, e := range g.events(attID) {
		if e.Type == "archived" && e.Detail["kind"] == "attachment" && e.Detail["sha256"] == sha(pdfBytes) {
			archived++
		}
	}
	if archived != 2 {
		t.Errorf("%d archived attachment events, want 2", archived)
	}

	// Batch: 207, per item; retried, it replays rather than duplicates.
	batch := `{"invoices": [` + mutate(t, set("number", "B-1")) + `,` + mutate(t, set("currency", "XXY")) + `,` + mutate(t, set("number", "B-2")) + `]}`
	for round, want := range []string{"202 422 202", "200 422 200"} {
		r = g.request("POST", "/v1/invoices/batch", g.apiKey, json, []byte(batch))
		check("POST", "/v1/invoices/batch", r)
		res := decode[struct{ Results []struct{ Status int } }](t, r.body)
		var sts []string
		for _, it := range res.Results {
			sts = append(sts, fmt.Sprint(it.Status))
		}
		if strings.Join(sts, " ") != want {
			t.Errorf("batch round %d statuses = %v, want %s", round, sts, want)
		}
	}

	// Listing with a cursor and filters.
	seen := map[string]bool{}
	after := ""
	for page := 0; page < 10; page++ {
		p := "/v1/invoices?limit=2"
		if after != "" {
			p += "&starting_after=" + after
		}
		r = g.request("GET", p, g.apiKey, nil, nil)
		check("GET", p, r)
		l := decode[struct {
			HasMore bool `json:"has_more"`
			Data    []struct{ ID string }
		}](t, r.body)
		for _, d := range l.Data {
			if seen[d.ID] {
				t.Errorf("page %d repeats %s", page, d.ID)
			}
			seen[d.ID] = true
			after = d.ID
		}
		if !l.HasMore {
			break
		}
	}
	if len(seen) != 5 {
		t.Errorf("listed %d invoices, want 5", len(seen))
	}
	r = g.request("GET", "/v1/invoices?number=B-2&customer_id=CUST-7&status=queued&created[gte]=2020-01-01", g.apiKey, nil, nil)
	if l := decode[struct{ Data []struct{ Number string } }](t, r.body); len(l.Data) > 1 || (len(l.Data) == 1 && l.Data[0].Number != "B-2") {
		t.Errorf("filtered list = %+v", l.Data)
	}
	r = g.request("GET", "/v1/invoices?overdue=true", g.apiKey, nil, nil)
	check("GET", "/v1/invoices", r)

	// Keys: create, use, list, revoke; revocation is honoured within the cache TTL.
	r = g.request("POST", "/v1/api-keys", g.apiKey, json, []byte(`{"name": "erp"}`))
	check("POST", "/v1/api-keys", r)
	nk := decode[struct{ ID, Secret string }](t, r.body)
	if r.status != 201 || !strings.HasPrefix(nk.Secret, "igw_") {
		t.Fatalf("create key = %d %s", r.status, r.body)
	}
	if r := g.request("GET", "/v1/invoices/"+got.ID, nk.Secret, nil, nil); r.status != 200 {
		t.Errorf("new key: GET = %d", r.status)
	}
	r = g.request("GET", "/v1/api-keys", g.apiKey, nil, nil)
	check("GET", "/v1/api-keys", r)
	if bytes.Contains(r.body, []byte(nk.Secret)) {
		t.Error("the key list shows a secret")
	}
	r = g.request("DELETE", "/v1/api-keys/"+nk.ID, g.apiKey, nil, nil)
	check("DELETE", "/v1/api-keys/"+nk.ID, r)
	deadline := time.Now().Add(10 * time.Second)
	for g.request("GET", "/v1/invoices", nk.Secret, nil, nil).status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a revoked key still works after 10 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	r = g.request("GET", "/v1/openapi.json", "", nil, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"openapi":"3.1.0"`)) {
		t.Errorf("GET /v1/openapi.json = %d", r.status)
	}
	if r := g.request("GET", "/v1/invoices", g.apiKey, nil, nil); r.header.Get("RateLimit-Limit") == "" {
		t.Errorf("no RateLimit-Limit header")
	}
}

func TestEveryEndpointHidesOtherTenantsObjects(t *testing.T) {
	g := startGateway(t)
	r := g.postInvoice(g.apiKey, exampleInvoice)
	if r.status != 202 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	id := decode[invoiceJSON](t, r.body).ID
	r = g.request("POST", "/v1/api-keys", g.apiKey, map[string]string{"Content-Type": "application/json"}, []byte(`{}`))
	keyID := decode[struct{ ID string }](t, r.body).ID
	_ = g.request("PUT", "/v1/customers/CUST-7/terms", g.apiKey, map[string]string{"Content-Type": "application/json"}, []byte(`{"text": "T"}`))
	other := g.createTenant("Other")
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/invoices/" + id},
		{"GET", "/v1/invoices/" + id + "/events"},
		{"GET", "/v1/invoices/" + id + "/pdf"},
		{"DELETE", "/v1/api-keys/" + keyID},
		{"GET", "/v1/customers/CUST-7/terms"},
		{"GET", "/v1/settings/terms"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			checkProblem(t, g.request(c.method, c.path, other, nil, nil), 404, "not-found", nil)
		})
	}
	t.Run("POST attachments", func(t *testing.T) {
		checkProblem(t, g.upload(other, "/v1/invoices/"+id+"/attachments", "a.pdf", pdfBytes), 404, "not-found", nil)
	})
	t.Run("the list shows none of them", func(t *testing.T) {
		r := g.request("GET", "/v1/invoices?number=INV-2026-0042", other, nil, nil)
		if l := decode[struct{ Data []any }](t, r.body); r.status != 200 || len(l.Data) != 0 {
			t.Errorf("list = %d %s, want 200 and no invoices", r.status, r.body)
		}
	})
	t.Run("the same number is free for the other tenant", func(t *testing.T) {
		if r := g.postInvoice(other, exampleInvoice); r.status != 202 {
			t.Errorf("POST = %d %s", r.status, r.body)
		}
	})
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	g := startGateway(t, "INVOICEGW_RATE_LIMIT", "3")
	var limited *response
	for range 20 {
		r := g.request("GET", "/v1/invoices", g.apiKey, nil, nil)
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") == "" {
			t.Fatalf("RateLimit headers = %q %q, want limit 3", r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
		if r.status == 429 {
			limited = &r
			break
		}
	}
	if limited == nil {
		t.Fatal("20 requests at once never got 429 with a limit of 3/s")
	}
	checkProblem(t, *limited, 429, "rate-limited", nil)
	if ra := limited.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
	}
}

func TestCLITenantTermsAndKeys(t *testing.T) {
	g := startGateway(t)
	cli := func(args ...string) []byte {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, g.getenv, nil, &out, &errOut); err != nil {
			t.Fatalf("invoicegw %v: %v %s", args, err, errOut.String())
		}
		return out.Bytes()
	}
	ten := decode[struct {
		TenantID string `json:"tenant_id"`
		APIKey   string `json:"api_key"`
	}](t, cli("tenant", "create", "--name", "Terms GmbH", "--default-terms", "Default terms v1"))
	r := g.postInvoice(ten.APIKey, mutate(t, del("terms")))
	if r.status != 202 {
		t.Fatalf("POST without terms = %d %s, want 202 with the tenant's default", r.status, r.body)
	}
	inv := decode[map[string]any](t, r.body)
	if v, _ := inv["terms_version"].(string); !strings.HasPrefix(v, "trm_") || inv["terms_source"] != "tenant" {
		t.Errorf("terms_version %v source %v, want a trm_ version from the tenant", inv["terms_version"], inv["terms_source"])
	}
	created := decode[struct{ ID, APIKey string }](t, cli("key", "create", "--tenant", ten.TenantID, "--name", "second"))
	created.APIKey = decode[struct {
		Key string `json:"api_key"`
	}](t, cli("key", "create", "--tenant", ten.TenantID, "--name", "third")).Key
	if r := g.request("GET", "/v1/invoices", created.APIKey, nil, nil); r.status != 200 {
		t.Errorf("CLI-created key: GET = %d", r.status)
	}
	if n := bytes.Count(cli("key", "list", "--tenant", ten.TenantID), []byte("\n")); n != 3 {
		t.Errorf("key list shows %d keys, want 3", n)
	}
	cli("key", "revoke", "--tenant", ten.TenantID, "--id", created.ID)
	if !bytes.Contains(cli("key", "list", "--tenant", ten.TenantID), []byte(`"revoked_at":"`)) {
		t.Error("key list shows no revoked key after revoke")
	}
}
