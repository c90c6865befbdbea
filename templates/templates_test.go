package templates

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/invoicegw/invoicegw/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const pixelTag = `<img src="https://invoices.example.com/t/p/Q2hvb3NlIGEgdG9rZW4gbm90IGEgc2VjcmV0IGtleQ" width="1" height="1" alt="" style="display:block;border:0">`

func sampleEmail() gateway.EmailData {
	return gateway.EmailData{
		ContactName:   "Jane Doe",
		SellerName:    "Acme Supplies GmbH",
		InvoiceNumber: "INV-2026-0042",
		AmountDue:     "EUR 71.36",
		DueDate:       "2026-12-23",
		LinkURL:       "https://invoices.example.com/t/l/dGhpcyBpcyBhIGxpbmsgdG9rZW4gZm9yIHRlc3Rz",
		PixelURL:      "https://invoices.example.com/t/p/Q2hvb3NlIGEgdG9rZW4gbm90IGEgc2VjcmV0IGtleQ",
		Attached:      true,
	}
}

func samplePage() gateway.PageData {
	return gateway.PageData{
		InvoiceNumber: "INV-2026-0042",
		SellerName:    "Acme Supplies GmbH",
		CustomerName:  "Müller & Söhne KG",
		ContactName:   "Jane Doe",
		IssueDate:     "2026-11-23",
		DueDate:       "2026-12-23",
		Currency:      "EUR",
		Subtotal:      "59.97",
		Tax:           "11.39",
		AmountDue:     "71.36",
		Lines: []gateway.PageLine{
			{Description: "Printer paper A4, 500 sheets", Quantity: "3", UnitPrice: "12.99", TaxRate: "19", Amount: "38.97"},
			{Description: "Toner cartridge, black", Quantity: "1", UnitPrice: "21.00", TaxRate: "19", Amount: "21.00"},
		},
		Terms:  "1. Payment is due within 30 days.\n2. Goods remain our property until paid in full.\n\nAcme Supplies GmbH, Berlin",
		PDFURL: "https://invoices.example.com/t/d/cGRmIHRva2VuIGZvciB0aGUgaG9zdGVkIHBhZ2U",
		Form:   gateway.PageForm{ConfirmURL: "/i/tok/confirm", QueryURL: "/i/tok/query", CSRF: "Y3NyZi10b2tlbg"},
	}
}

func mustNew(t *testing.T) *Templates {
	t.Helper()
	tpl, err := New()
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return tpl
}

func TestInvoiceEmail(t *testing.T) {
	tpl := mustNew(t)
	tests := []struct {
		name        string
		edit        func(*gateway.EmailData)
		wantSubject string
		wantPixel   bool
	}{
		{
			name:        "composes subject and bodies with the pixel",
			edit:        func(*gateway.EmailData) {},
			wantSubject: "Invoice INV-2026-0042 from Acme Supplies GmbH: EUR 71.36 due 2026-12-23",
			wantPixel:   true,
		},
		{
			name:        "leaves the pixel out when tracking is off",
			edit:        func(d *gateway.EmailData) { d.PixelURL = "" },
			wantSubject: "Invoice INV-2026-0042 from Acme Supplies GmbH: EUR 71.36 due 2026-12-23",
			wantPixel:   false,
		},
		{
			name:        "strips CR LF from the subject",
			edit:        func(d *gateway.EmailData) { d.SellerName = "Acme\r\nBcc: victim@example.com" },
			wantSubject: "Invoice INV-2026-0042 from Acme Bcc: victim@example.com: EUR 71.36 due 2026-12-23",
			wantPixel:   true,
		},
		{
			name:        "strips other control characters from the subject",
			edit:        func(d *gateway.EmailData) { d.SellerName = "Acme\x00\tSupplies\x7fGmbH\u0085\v" },
			wantSubject: "Invoice INV-2026-0042 from Acme Supplies GmbH : EUR 71.36 due 2026-12-23",
			wantPixel:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleEmail()
			tt.edit(&d)
			subject, text, html, err := tpl.InvoiceEmail(d)
			if err != nil {
				t.Fatalf("InvoiceEmail() error = %v", err)
			}
			if subject != tt.wantSubject {
				t.Errorf("subject = %q, want %q", subject, tt.wantSubject)
			}
			if strings.ContainsFunc(subject, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("subject %q contains a control character", subject)
			}
			for _, want := range []string{"Dear " + d.ContactName + ",", d.InvoiceNumber, d.AmountDue, d.DueDate, "View the invoice online: " + d.LinkURL, "attached"} {
				if !strings.Contains(text, want) {
					t.Errorf("text does not contain %q:\n%s", want, text)
				}
			}
			for _, want := range []string{"Dear " + d.ContactName + ",", d.InvoiceNumber, d.AmountDue, d.DueDate, `href="` + d.LinkURL + `"`, ">View invoice</a>"} {
				if !strings.Contains(html, want) {
					t.Errorf("html does not contain %q", want)
				}
			}
			if got := strings.Contains(html, pixelTag); got != tt.wantPixel {
				t.Errorf("html contains pixel = %v, want %v", got, tt.wantPixel)
			}
			if !tt.wantPixel && strings.Contains(html, "<img") {
				t.Errorf("html without tracking contains an image:\n%s", html)
			}
			if strings.Contains(text, "/t/p/") {
				t.Errorf("text part contains the pixel URL:\n%s", text)
			}
		})
	}
}

func TestInvoiceEmailEscapesHostileInput(t *testing.T) {
	tpl := mustNew(t)
	tests := []struct {
		name    string
		edit    func(*gateway.EmailData)
		notRaw  string // must not appear in the HTML as sent
		escaped string // what must appear instead; empty to skip
	}{
		{
			name:    "escapes a script in the contact name",
			edit:    func(d *gateway.EmailData) { d.ContactName = "<script>alert(1)</script>" },
			notRaw:  "<script>alert(1)</script>",
			escaped: "Dear &lt;script&gt;alert(1)&lt;/script&gt;,",
		},
		{
			name:    "escapes an attribute break-out in the seller name",
			edit:    func(d *gateway.EmailData) { d.SellerName = `"><img src=x onerror=alert(1)>` },
			notRaw:  `<img src=x onerror`,
			escaped: "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
		},
		{
			name:    "neutralises a javascript link",
			edit:    func(d *gateway.EmailData) { d.LinkURL = "javascript:alert(1)" },
			notRaw:  `href="javascript:`,
			escaped: `href="#ZgotmplZ"`,
		},
		{
			name:    "neutralises a javascript pixel",
			edit:    func(d *gateway.EmailData) { d.PixelURL = "javascript:alert(1)" },
			notRaw:  `src="javascript:`,
			escaped: `src="#ZgotmplZ"`,
		},
		{
			name:   "keeps a quote in the link inside the attribute",
			edit:   func(d *gateway.EmailData) { d.LinkURL = `https://x.example/" onclick="alert(1)` },
			notRaw: `" onclick="`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleEmail()
			tt.edit(&d)
			_, _, html, err := tpl.InvoiceEmail(d)
			if err != nil {
				t.Fatalf("InvoiceEmail() error = %v", err)
			}
			if strings.Contains(html, tt.notRaw) {
				t.Errorf("html contains %q unescaped", tt.notRaw)
			}
			if tt.escaped != "" && !strings.Contains(html, tt.escaped) {
				t.Errorf("html does not contain escaped form %q", tt.escaped)
			}
		})
	}
}

func TestPage(t *testing.T) {
	tpl := mustNew(t)
	tests := []struct {
		name    string
		edit    func(*gateway.PageData)
		want    []string
		notWant []string
	}{
		{
			name: "shows the invoice with PDF link and terms",
			edit: func(*gateway.PageData) {},
			want: []string{
				`<html lang="en">`,
				`<meta name="viewport"`,
				"Acme Supplies GmbH",
				"<h1>Invoice INV-2026-0042</h1>",
				"Müller &amp; Söhne KG",
				"Attn: Jane Doe",
				"2026-11-23", "2026-12-23",
				`<th scope="col">Description</th>`,
				"Printer paper A4, 500 sheets", "12.99", "38.97", "Toner cartridge, black",
				"59.97", "11.39", "EUR 71.36", "Amount due",
				`<a class="button" href="https://invoices.example.com/t/d/cGRmIHRva2VuIGZvciB0aGUgaG9zdGVkIHBhZ2U" type="application/pdf">Download PDF</a>`,
				"white-space:pre-wrap",
				// The newlines reach the browser as they were written; pre-wrap shows them.
				`<div class="terms">1. Payment is due within 30 days.` + "\n" + `2. Goods remain our property until paid in full.` + "\n\n" + `Acme Supplies GmbH, Berlin</div>`,
			},
			// No third-party assets and no scripts: the page must work with everything blocked.
			notWant: []string{"<script", "<link", "@import", "url(", `src="http`},
		},
		{
			name: "escapes hostile lines and terms",
			edit: func(d *gateway.PageData) {
				d.Lines[0].Description = "<script>alert(1)</script>"
				d.Terms = "</div><script>alert(2)</script>"
				d.ContactName = `<b onmouseover="alert(3)">x</b>`
			},
			want:    []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;/div&gt;&lt;script&gt;alert(2)&lt;/script&gt;", "Attn: &lt;b onmouseover=&#34;alert(3)&#34;&gt;x&lt;/b&gt;"},
			notWant: []string{"<script", "<b onmouseover"},
		},
		{
			name:    "neutralises a javascript PDF link",
			edit:    func(d *gateway.PageData) { d.PDFURL = "javascript:alert(1)" },
			want:    []string{`href="#ZgotmplZ"`},
			notWant: []string{"javascript:"},
		},
		{
			name:    "omits the terms heading when there are no terms",
			edit:    func(d *gateway.PageData) { d.Terms = "" },
			notWant: []string{"Terms and conditions", `<div class="terms">`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := samplePage()
			d.Lines = append([]gateway.PageLine(nil), d.Lines...)
			tt.edit(&d)
			var buf bytes.Buffer
			if err := tpl.Page(&buf, d); err != nil {
				t.Fatalf("Page() error = %v", err)
			}
			got := buf.String()
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("page does not contain %q", want)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(got, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	tpl := mustNew(t)
	var buf bytes.Buffer
	if err := tpl.NotFound(&buf); err != nil {
		t.Fatalf("NotFound() error = %v", err)
	}
	got := buf.String()
	for _, want := range []string{`<html lang="en">`, "<h1>Link not found or expired</h1>", "contact the company"} {
		if !strings.Contains(got, want) {
			t.Errorf("not-found page does not contain %q", want)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestPageReportsWriteError(t *testing.T) {
	tpl := mustNew(t)
	if err := tpl.Page(failingWriter{}, samplePage()); err == nil {
		t.Error("Page() to a failing writer: got nil error, want one")
	}
}

func TestGolden(t *testing.T) {
	tpl := mustNew(t)
	_, text, html, err := tpl.InvoiceEmail(sampleEmail())
	if err != nil {
		t.Fatalf("InvoiceEmail() error = %v", err)
	}
	var page, notFound bytes.Buffer
	if err := tpl.Page(&page, samplePage()); err != nil {
		t.Fatalf("Page() error = %v", err)
	}
	if err := tpl.NotFound(&notFound); err != nil {
		t.Fatalf("NotFound() error = %v", err)
	}
	tests := []struct {
		file string
		got  []byte
	}{
		{"invoice_email.golden.txt", []byte(text)},
		{"invoice_email.golden.html", []byte(html)},
		{"page.golden.html", page.Bytes()},
		{"notfound.golden.html", notFound.Bytes()},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, tt.got, 0o644); err != nil {
					t.Fatalf("write golden file: %v", err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test ./templates/ -update to create it): %v", err)
			}
			if !bytes.Equal(tt.got, want) {
				t.Errorf("output differs from %s; if the change is intended, run go test ./templates/ -update and review the diff.\ngot:\n%s", path, tt.got)
			}
		})
	}
}

func TestNewRejectsBrokenTemplates(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
	}{
		{"rejects a syntax error in the subject", "email/subject.txt.tmpl", "Invoice {{.InvoiceNumber"},
		{"rejects an unknown field in the text body", "email/invoice.txt.tmpl", "Dear {{.FirstName}}"},
		{"rejects an unknown field in the html body", "email/invoice.html.tmpl", "<p>{{if .PixelURL}}{{.Pixel}}{{end}}</p>"},
		{"rejects an unknown field inside a range on the page", "page/invoice.html.tmpl", "{{range .Lines}}{{.Price}}{{end}}"},
		{"rejects a missing block on the not-found page", "page/notfound.html.tmpl", `<style>{{template "styles"}}</style>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := fs.ReadFile(files, path)
				fsys[path] = &fstest.MapFile{Data: data}
				return err
			})
			if err != nil {
				t.Fatalf("copy embedded files: %v", err)
			}
			if _, ok := fsys[tt.file]; !ok {
				t.Fatalf("no embedded file %s to break", tt.file)
			}
			fsys[tt.file] = &fstest.MapFile{Data: []byte(tt.content)}
			if _, err := parse(fsys); err == nil {
				t.Errorf("parse() with broken %s: got nil error, want one", tt.file)
			}
		})
	}
}
